// tidemark-gui: the desktop timeline. `tidemark-gui [FILE [FILE2]]` opens a recording (and compares it
// with FILE2); `--screenshot OUT.png [--view V] [--size WxH] FILE` renders one view headlessly and
// exits (0 written, 2 usage or unreadable input), for docs, bug reports and tests.
#include "gui/app/main_window.h"
#include "gui/app/measure.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QFileInfo>
#include <QLoggingCategory>
#include <QTimer>

#include <cstdio>

namespace {

using tidemark::gui::MainWindow;

int usageError(const QString& message)
{
    std::fprintf(stderr, "tidemark-gui: error: %s\nhint: tidemark-gui --help\n", qPrintable(message));
    return 2;
}

bool parseView(const QString& name, MainWindow::View& view)
{
    static const QHash<QString, MainWindow::View> kViews { { "summary", MainWindow::View::Summary },
        { "timeline", MainWindow::View::Timeline }, { "segments", MainWindow::View::Segments },
        { "flame", MainWindow::View::Flame }, { "diff", MainWindow::View::Diff } };
    auto it = kViews.find(name);
    if (it == kViews.end())
        return false;
    view = *it;
    return true;
}

} // namespace

int main(int argc, char** argv)
{
    // Headless rendering needs no display: pick the offscreen platform before QApplication exists.
    for (int i = 1; i < argc; ++i)
        if ((qstrcmp(argv[i], "--screenshot") == 0 || qstrcmp(argv[i], "--measure") == 0)
            && qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
            qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("tidemark-gui"));
    QApplication::setApplicationVersion(QStringLiteral(TIDEMARK_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "tidemark-gui: timeline of a tidemark recording. Selecting a time shows what was live; selecting a range "
        "(shift+drag) shows what was allocated and freed; every pane follows the selection."));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument(QStringLiteral("FILE"), QStringLiteral("recording to open (.tmdb)"));
    parser.addPositionalArgument(QStringLiteral("FILE2"), QStringLiteral("optional second recording to compare with"),
        QStringLiteral("[FILE2]"));
    QCommandLineOption shot(QStringLiteral("screenshot"), QStringLiteral("render headlessly to OUT.png and exit"),
        QStringLiteral("OUT.png"));
    QCommandLineOption viewOpt(QStringLiteral("view"),
        QStringLiteral("view for --screenshot: summary|timeline|segments|flame|diff"), QStringLiteral("VIEW"),
        QStringLiteral("timeline"));
    QCommandLineOption sizeOpt(QStringLiteral("size"),
        QStringLiteral("window size for --screenshot (default 1400x900)"), QStringLiteral("WxH"),
        QStringLiteral("1400x900"));
    QCommandLineOption measure(QStringLiteral("measure"),
        QStringLiteral("print time to first timeline, query and repaint times per zoom level, and exit"));
    parser.addOptions({ shot, viewOpt, sizeOpt, measure });
    parser.process(app);

    const QStringList files = parser.positionalArguments();
    if (files.size() > 2)
        return usageError(QStringLiteral("at most two recordings (FILE and FILE2)"));
    for (const auto& f : files)
        if (!QFileInfo(f).isFile())
            return usageError(QStringLiteral("cannot open %1: no such file").arg(f));
    MainWindow::View view = MainWindow::View::Timeline;
    if (!parseView(parser.value(viewOpt), view))
        return usageError(QStringLiteral("unknown --view '%1'").arg(parser.value(viewOpt)));
    const QStringList size = parser.value(sizeOpt).split(QLatin1Char('x'));
    const int w = size.size() == 2 ? size[0].toInt() : 0;
    const int h = size.size() == 2 ? size[1].toInt() : 0;
    if (w < 200 || h < 150 || w > 8000 || h > 8000)
        return usageError(QStringLiteral("bad --size '%1' (expected WxH, e.g. 1400x900)").arg(parser.value(sizeOpt)));

    if (parser.isSet(measure)) {
        if (files.size() != 1)
            return usageError(QStringLiteral("--measure needs one recording"));
        return tidemark::gui::runMeasure(files[0]);
    }

    MainWindow window;
    window.resize(w, h);
    if (files.size() == 2)
        window.compareWith(files[1]);
    if (!files.isEmpty())
        window.openFile(files[0]);
    if (!parser.isSet(shot)) {
        window.show();
        return app.exec();
    }
    if (files.isEmpty())
        return usageError(QStringLiteral("--screenshot needs a recording"));
    window.setProperty("headless", true);
    window.showView(view);
    window.show();
    const QString out = parser.value(shot);
    int status = 0;
    window.whenIdle([&](bool ok) {
        if (!ok) {
            std::fprintf(stderr, "tidemark-gui: error: %s\n", qPrintable(window.lastError().replace('\n', ' ')));
            status = 2;
            app.exit(status);
            return;
        }
        window.showView(view); // again: loading may have changed the current pane's contents
        QTimer::singleShot(150, &window, [&]() {
            if (!window.grab().save(out)) {
                std::fprintf(stderr, "tidemark-gui: error: cannot write %s\n", qPrintable(out));
                status = 2;
            }
            app.exit(status);
        });
    });
    // A recording that never settles must not hang a script.
    QTimer::singleShot(600000, &app, [&]() {
        std::fprintf(stderr, "tidemark-gui: error: timed out rendering %s\n", qPrintable(out));
        app.exit(2);
    });
    return app.exec();
}
