// MainWindow: widgets, actions, loading, drag and drop, and the idle check used by --screenshot.
// The queries the selection drives are in main_window_queries.cpp.
#include "gui/app/main_window.h"

#include "gui/app/flame_widget.h"
#include "gui/app/segment_widget.h"
#include "gui/app/timeline_widget.h"
#include "gui/lib/calltree_model.h"
#include "gui/lib/format.h"
#include "gui/lib/query_runner.h"
#include "gui/lib/summary_model.h"
#include "gui/lib/table_models.h"

#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QDragEnterEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHeaderView>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QScrollArea>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QToolBar>
#include <QToolButton>
#include <QTreeView>
#include <QVBoxLayout>

namespace tidemark::gui {

namespace {

    QTableView* makeTable(QAbstractItemModel* model, QWidget* parent)
    {
        auto* t = new QTableView(parent);
        t->setModel(model);
        t->setSelectionBehavior(QAbstractItemView::SelectRows);
        t->setSelectionMode(QAbstractItemView::SingleSelection);
        t->verticalHeader()->hide();
        t->verticalHeader()->setDefaultSectionSize(t->fontMetrics().height() + 6);
        t->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
        t->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
        t->setAlternatingRowColors(true);
        t->setWordWrap(false);
        return t;
    }

    QWidget* titled(QLabel*& label, QWidget* body, QWidget* parent)
    {
        auto* w = new QWidget(parent);
        auto* l = new QVBoxLayout(w);
        l->setContentsMargins(0, 0, 0, 0);
        l->setSpacing(2);
        label = new QLabel(w);
        label->setTextFormat(Qt::RichText);
        label->setWordWrap(true);
        l->addWidget(label);
        l->addWidget(body, 1);
        return w;
    }

} // namespace

MainWindow::MainWindow(QWidget* parent)
    : QMainWindow(parent)
    , m_loader(new Loader(this))
{
    setWindowTitle(QStringLiteral("tidemark"));
    setAcceptDrops(true);
    m_summaryModel = new SummaryModel(this);
    m_primaryModel = new BreakdownModel(this);
    m_secondaryModel = new BreakdownModel(this);
    m_stackModel = new StackModel(this);
    m_topDownModel = new CallTreeModel(this);
    m_bottomUpModel = new CallTreeModel(this);
    m_heapModel = new HeapModel(this);
    m_diffModel = new DiffModel(this);
    buildUi();
    buildActions();
    connect(m_loader, &Loader::progress, this, [this](int percent, const QString& stage) {
        m_progress->setValue(percent);
        m_status->setText(stage);
    });
    connect(m_loader, &Loader::overviewReady, this, &MainWindow::onOverview);
    connect(m_loader, &Loader::summaryReady, this, &MainWindow::onSummary);
    connect(m_loader, &Loader::reportReady, this, &MainWindow::onReport);
    connect(m_loader, &Loader::failed, this, &MainWindow::onFailed);
    connect(m_loader, &Loader::finished, this, [this]() {
        m_loading = false;
        m_progress->setVisible(false);
        m_cancel->setVisible(false);
    });
    m_viewTimer.setSingleShot(true);
    m_viewTimer.setInterval(30); // coalesce wheel bursts into one query
    connect(&m_viewTimer, &QTimer::timeout, this, &MainWindow::requestView);
    connect(&m_idleTimer, &QTimer::timeout, this, &MainWindow::checkIdle);
}

MainWindow::~MainWindow() = default;

void MainWindow::buildUi()
{
    m_timeline = new TimelineWidget(this);
    m_tabs = new QTabWidget(this);
    m_tabs->setDocumentMode(true);
    m_summaryPage = buildSummaryPage();
    m_selectionPage = buildSelectionPane();
    m_topDownPage = buildTreePane(m_topDownView, m_topDownModel);
    m_bottomUpPage = buildTreePane(m_bottomUpView, m_bottomUpModel);
    m_flame = new FlameWidget(this);
    auto* segPage = new QSplitter(Qt::Vertical, this);
    auto* segScroll = new QScrollArea(segPage);
    m_segments = new SegmentWidget(segScroll);
    segScroll->setWidget(m_segments);
    segScroll->setWidgetResizable(true);
    m_heapTable = makeTable(m_heapModel, segPage);
    segPage->addWidget(segScroll);
    segPage->addWidget(m_heapTable);
    segPage->setStretchFactor(0, 3);
    segPage->setStretchFactor(1, 1);
    m_diffTable = makeTable(m_diffModel, this);
    m_diffTable->horizontalHeader()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
    m_diffTable->horizontalHeader()->setSectionResizeMode(2, QHeaderView::Stretch);
    m_diffPage = titled(m_diffHeader, m_diffTable, this);
    m_diffHeader->setText(
        tr("Compare two recordings: File > Compare with…, or `tidemark gui BEFORE.tmdb AFTER.tmdb`."));
    m_tabs->addTab(m_summaryPage, tr("Summary"));
    m_tabs->addTab(m_selectionPage, tr("Selection"));
    m_tabs->addTab(m_topDownPage, tr("Top-down"));
    m_tabs->addTab(m_bottomUpPage, tr("Bottom-up"));
    m_tabs->addTab(m_flame, tr("Flame graph"));
    m_tabs->addTab(segPage, tr("Segments"));
    m_tabs->addTab(m_diffPage, tr("Diff"));
    m_splitter = new QSplitter(Qt::Vertical, this);
    m_splitter->addWidget(m_timeline);
    m_splitter->addWidget(m_tabs);
    m_splitter->setStretchFactor(0, 3);
    m_splitter->setStretchFactor(1, 2);
    setCentralWidget(m_splitter);
    connect(m_tabs, &QTabWidget::currentChanged, this, &MainWindow::updateTimelineVisibility);
    connect(m_timeline, &TimelineWidget::viewChanged, this, [this]() { m_viewTimer.start(); });
    connect(m_timeline, &TimelineWidget::selectionRequested, this, &MainWindow::select);
    connect(m_timeline, &TimelineWidget::hoverRequested, this, [this](analysis::TimeNs t, int64_t spaceId) {
        if (!m_fast)
            return;
        m_fast->submit<Result<int64_t>>(
            QStringLiteral("hover"), [=](analysis::Recording& rec) { return analysis::liveBytesAt(rec, spaceId, t); },
            [this, t, spaceId](Result<int64_t> r) {
                if (r)
                    m_timeline->setHoverExact(t, spaceId, *r);
            });
    });

    m_progress = new QProgressBar(this);
    m_progress->setRange(0, 100);
    m_progress->setMaximumWidth(200);
    m_progress->setVisible(false);
    m_cancel = new QToolButton(this);
    m_cancel->setText(tr("Cancel"));
    m_cancel->setVisible(false);
    connect(m_cancel, &QToolButton::clicked, m_loader, &Loader::cancel);
    m_status = new QLabel(this);
    statusBar()->addWidget(m_status, 1);
    statusBar()->addPermanentWidget(m_progress);
    statusBar()->addPermanentWidget(m_cancel);
    updateTimelineVisibility();
}

QWidget* MainWindow::buildSummaryPage()
{
    auto* page = new QWidget(this);
    auto* l = new QVBoxLayout(page);
    m_summaryHeader = new QLabel(page);
    m_summaryHeader->setTextFormat(Qt::RichText);
    m_summaryHeader->setWordWrap(true);
    m_summaryHeader->setText(tr("<h3>No recording open</h3>File > Open, drop a .tmdb file on the window, or run "
                                "<code>tidemark gui run.tmdb</code>."));
    m_summaryView = new QTreeView(page);
    m_summaryView->setModel(m_summaryModel);
    m_summaryView->setAlternatingRowColors(true);
    m_summaryView->setUniformRowHeights(true);
    m_summaryView->header()->setSectionResizeMode(0, QHeaderView::Interactive);
    m_summaryView->setColumnWidth(0, 560);
    m_summaryView->setWordWrap(false);
    l->addWidget(m_summaryHeader);
    l->addWidget(m_summaryView, 1);
    connect(m_summaryModel, &QAbstractItemModel::modelReset, this, [this]() { m_summaryView->expandToDepth(1); });
    return page;
}

QWidget* MainWindow::buildSelectionPane()
{
    auto* split = new QSplitter(Qt::Horizontal, this);
    auto* left = new QWidget(split);
    auto* ll = new QVBoxLayout(left);
    ll->setContentsMargins(4, 4, 4, 4);
    m_selectionHeader = new QLabel(left);
    m_selectionHeader->setTextFormat(Qt::RichText);
    m_selectionHeader->setWordWrap(true);
    auto* tables = new QSplitter(Qt::Horizontal, left);
    m_primaryTable = makeTable(m_primaryModel, tables);
    m_secondaryTable = makeTable(m_secondaryModel, tables);
    tables->addWidget(titled(m_primaryLabel, m_primaryTable, tables));
    tables->addWidget(titled(m_secondaryLabel, m_secondaryTable, tables));
    ll->addWidget(m_selectionHeader);
    ll->addWidget(tables, 1);
    m_stackTable = makeTable(m_stackModel, split);
    m_stackTable->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Interactive);
    m_stackTable->horizontalHeader()->setSectionResizeMode(1, QHeaderView::Interactive);
    m_stackTable->setColumnWidth(0, 330);
    m_stackTable->setColumnWidth(1, 260);
    m_stackTable->setTextElideMode(Qt::ElideLeft);
    split->addWidget(left);
    split->addWidget(titled(m_stackLabel, m_stackTable, split));
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    m_stackLabel->setText(tr("<b>Stack</b> of the selected site (allocating frame first)"));
    for (auto* table : { m_primaryTable, m_secondaryTable })
        connect(table->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this, table](const QModelIndex& i) {
                if (i.isValid())
                    requestStack(table->model()->index(i.row(), 0).data(CallsiteRole).toLongLong());
            });
    return split;
}

QWidget* MainWindow::buildTreePane(QTreeView*& view, CallTreeModel*& model)
{
    view = new QTreeView(this);
    view->setModel(model);
    view->setUniformRowHeights(true);
    view->setAlternatingRowColors(true);
    view->header()->setSectionResizeMode(0, QHeaderView::Stretch);
    view->header()->setStretchLastSection(false);
    connect(model, &QAbstractItemModel::modelReset, view, [view]() {
        // Open the heaviest path a few levels deep: that is where people look first.
        QModelIndex i = view->model()->index(0, 0);
        for (int d = 0; d < 6 && i.isValid(); ++d) {
            view->expand(i);
            i = view->model()->index(0, 0, i);
        }
    });
    connect(view->selectionModel(), &QItemSelectionModel::currentRowChanged, this, [this, view](const QModelIndex& i) {
        if (i.isValid())
            requestStack(view->model()->index(i.row(), 0, i.parent()).data(CallsiteRole).toLongLong());
    });
    return view;
}

void MainWindow::buildActions()
{
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&Open…"), QKeySequence::Open, this, [this]() {
        QString path = QFileDialog::getOpenFileName(
            this, tr("Open recording"), {}, tr("tidemark recordings (*.tmdb);;All files (*)"));
        if (!path.isEmpty())
            openFile(path);
    });
    file->addAction(tr("&Compare with…"), this, [this]() {
        QString path = QFileDialog::getOpenFileName(
            this, tr("Compare with recording"), {}, tr("tidemark recordings (*.tmdb);;All files (*)"));
        if (!path.isEmpty())
            compareWith(path);
    });
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, qApp, &QApplication::quit);

    QToolBar* bar = addToolBar(tr("View"));
    bar->setMovable(false);
    bar->addWidget(new QLabel(tr(" Space "), bar));
    m_spaceBox = new QComboBox(bar);
    bar->addWidget(m_spaceBox);
    connect(m_spaceBox, &QComboBox::activated, this, [this]() {
        Selection s = m_selection;
        s.spaceId = currentSpaceId();
        select(s);
    });
    bar->addWidget(new QLabel(tr("  Stack by "), bar));
    m_stackByBox = new QComboBox(bar);
    m_stackByBox->addItems({ tr("phase"), tr("call site") });
    bar->addWidget(m_stackByBox);
    connect(m_stackByBox, &QComboBox::activated, this, [this]() { requestView(); });
    bar->addWidget(new QLabel(tr("  Trees weighted by "), bar));
    m_weightBox = new QComboBox(bar);
    m_weightBox->addItems({ tr("bytes live (at selection / peak)"), tr("leaked bytes"), tr("allocation count") });
    bar->addWidget(m_weightBox);
    connect(m_weightBox, &QComboBox::activated, this, [this]() { requestTrees(); });
    bar->addSeparator();
    bar->addAction(tr("Zoom to selection"), QKeySequence(Qt::Key_Z), m_timeline, &TimelineWidget::zoomToSelection);
    bar->addAction(tr("Back"), QKeySequence(Qt::ALT | Qt::Key_Left), m_timeline, &TimelineWidget::back);
    bar->addAction(tr("Whole run"), QKeySequence(Qt::Key_0), m_timeline, &TimelineWidget::resetZoom);
    bar->addAction(tr("Select peak"), this, [this]() {
        for (size_t i = 0; m_overview && i < m_overview->spaces.size(); ++i)
            if (m_overview->spaces[i].id == currentSpaceId())
                select(Selection { true, false, m_overview->peakNs[i], m_overview->peakNs[i], currentSpaceId() });
    });
}

void MainWindow::openFile(const QString& path)
{
    if (m_fast)
        m_fast->cancelAll();
    if (m_slow)
        m_slow->cancelAll();
    m_loading = true;
    m_lastError.clear();
    m_progress->setValue(0);
    m_progress->setVisible(true);
    m_cancel->setVisible(true);
    setWindowTitle(QStringLiteral("tidemark — %1").arg(path));
    m_loader->load(path);
}

void MainWindow::onOverview(std::shared_ptr<Overview> overview)
{
    delete m_fast;
    delete m_slow;
    m_overview = std::move(overview);
    m_report.reset();
    m_selection = Selection {};
    m_fast = new QueryRunner(std::move(*m_overview->fastRec), this);
    m_slow = new QueryRunner(std::move(*m_overview->slowRec), this);
    m_overview->fastRec.reset();
    m_overview->slowRec.reset();
    m_summaryHeader->setText(
        tr("<h3>%1</h3>reading the summary…").arg(QFileInfo(m_overview->path).fileName().toHtmlEscaped()));
    m_spaceBox->clear();
    for (const auto& sp : m_overview->spaces)
        m_spaceBox->addItem(QString::fromStdString(sp.name), QVariant::fromValue<qint64>(sp.id));
    m_timeline->setOverview(m_overview);
    m_status->setText(tr("Timeline ready in %1 s; reading the summary…").arg(m_overview->overviewSeconds, 0, 'f', 2));
    if (!m_comparePath.isEmpty())
        compareWith(m_comparePath);
}

void MainWindow::onSummary(std::shared_ptr<analysis::Summary> summary, std::shared_ptr<analysis::Coverage> coverage)
{
    if (!m_overview)
        return;
    // The overview is shared with the timeline: it now paints exact peaks and knows the lane counts.
    m_overview->summary = *summary;
    m_overview->coverage = *coverage;
    m_overview->summaryComplete = true;
    for (size_t i = 0; i < m_overview->spaces.size(); ++i)
        for (const auto& ss : summary->spaces)
            if (ss.space.id == m_overview->spaces[i].id) {
                m_overview->peakNs[i] = ss.peakNs;
                m_overview->peakBytes[i] = ss.peakBytes;
            }
    m_summaryModel->setSummary(*summary);
    m_summaryHeader->setText(tr("<h3>%1</h3>%2 · %3 allocations · analysing…")
                                 .arg(QString::fromStdString(summary->program).toHtmlEscaped(),
                                     formatDuration(summary->durationNs), formatCount(summary->allocations)));
    m_timeline->update();
    // Start where people look first: the peak of a device space when there is one.
    int preferred = 0;
    for (size_t i = 0; i < m_overview->spaces.size(); ++i)
        if (m_overview->spaces[i].kind == "device" && m_overview->spaces[preferred].kind != "device")
            preferred = static_cast<int>(i);
    if (!m_overview->spaces.empty() && !m_selection.valid)
        select(Selection { true, false, m_overview->peakNs[preferred], m_overview->peakNs[preferred],
            m_overview->spaces[preferred].id });
}

void MainWindow::onReport(std::shared_ptr<analysis::Report> report)
{
    m_report = std::move(report);
    m_summaryModel->setReport(*m_report);
    const auto& s = m_report->summary;
    QString text = tr("<h3>%1</h3>%2 · %3 allocations · %4 processes")
                       .arg(QString::fromStdString(s.program).toHtmlEscaped(), formatDuration(s.durationNs),
                           formatCount(s.allocations), formatCount(s.processes));
    if (!m_report->headlines.empty()) {
        text += QStringLiteral("<ul style='margin-left:-20px'>");
        for (const auto& h : m_report->headlines)
            text += QStringLiteral("<li>%1</li>").arg(QString::fromStdString(h).toHtmlEscaped());
        text += QStringLiteral("</ul>");
    }
    m_summaryHeader->setText(text);
    m_status->setText(tr("Ready: timeline in %1 s").arg(m_overview ? m_overview->overviewSeconds : 0, 0, 'f', 2));
}

void MainWindow::onFailed(const QString& message)
{
    m_lastError = message;
    m_status->setText(tr("Cannot open: %1").arg(message));
    if (!property("headless").toBool())
        QMessageBox::warning(this, tr("tidemark"), message);
}

void MainWindow::showView(View view)
{
    switch (view) {
    case View::Summary:
        m_tabs->setCurrentWidget(m_summaryPage);
        break;
    case View::Timeline:
        m_tabs->setCurrentWidget(m_selectionPage);
        break;
    case View::Segments:
        m_tabs->setCurrentIndex(5);
        break;
    case View::Flame:
        m_tabs->setCurrentWidget(m_flame);
        break;
    case View::Diff:
        m_tabs->setCurrentWidget(m_diffPage);
        break;
    }
}

void MainWindow::updateTimelineVisibility()
{
    // The summary and the diff are about the whole run: give them the full height.
    QWidget* w = m_tabs->currentWidget();
    m_timeline->setVisible(w != m_summaryPage && w != m_diffPage);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* e)
{
    if (e->mimeData()->hasUrls())
        e->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* e)
{
    const auto urls = e->mimeData()->urls();
    if (urls.isEmpty())
        return;
    if (urls.size() >= 2)
        m_comparePath = urls[1].toLocalFile();
    openFile(urls[0].toLocalFile());
}

void MainWindow::whenIdle(std::function<void(bool)> done)
{
    m_idleCallback = std::move(done);
    m_idleStreak = 0;
    m_idleTimer.start(100);
}

void MainWindow::checkIdle()
{
    if (!m_lastError.isEmpty() && !m_loading) {
        m_idleTimer.stop();
        m_idleCallback(false);
        return;
    }
    const bool busy = m_loading || !m_report || m_diffPending || m_viewTimer.isActive()
        || (m_fast && m_fast->pending() > 0) || (m_slow && m_slow->pending() > 0);
    // Idle for three ticks in a row: queued results have been delivered and painted.
    m_idleStreak = busy ? 0 : m_idleStreak + 1;
    if (m_idleStreak >= 3) {
        m_idleTimer.stop();
        m_idleCallback(true);
    }
}

int64_t MainWindow::currentSpaceId() const
{
    return m_spaceBox->currentData().toLongLong();
}

QString MainWindow::spaceName(int64_t id) const
{
    if (m_overview)
        for (const auto& s : m_overview->spaces)
            if (s.id == id)
                return QString::fromStdString(s.name);
    return QString::number(id);
}

} // namespace tidemark::gui
