// Shared by the GUI tests: a real recording of tidemark-train, made once per test binary with the
// real recorder (`tidemark record -- tidemark-train --device cpu --steps 3`) into a temporary dir.
#pragma once

#include <QDir>
#include <QFileInfo>
#include <QProcess>
#include <QString>
#include <QTemporaryDir>

namespace tidemark::gui::test {

inline QString buildDir()
{
    return qEnvironmentVariable("TIDEMARK_BUILD_DIR");
}

// Path of the recording, or "" with *why set when it cannot be made here.
// extraArgs replace the default "--steps 3".
inline QString trainRecording(
    QString* why, const QString& name = QStringLiteral("train.tmdb"), const QStringList& extraArgs = {})
{
    static QTemporaryDir dir;
    const QString out = dir.filePath(name);
    if (QFileInfo::exists(out))
        return out;
    const QString bin = buildDir() + QStringLiteral("/bin/");
    if (!QFileInfo(bin + QStringLiteral("tidemark")).isExecutable()
        || !QFileInfo(bin + QStringLiteral("tidemark-train")).isExecutable()) {
        *why = QStringLiteral("tidemark or tidemark-train not built in TIDEMARK_BUILD_DIR=") + buildDir();
        return {};
    }
    QProcess p;
    p.setProcessChannelMode(QProcess::MergedChannels);
    QStringList args { QStringLiteral("record"), QStringLiteral("-o"), out, QStringLiteral("--"),
        bin + QStringLiteral("tidemark-train"), QStringLiteral("--device"), QStringLiteral("cpu") };
    args += extraArgs.isEmpty() ? QStringList { QStringLiteral("--steps"), QStringLiteral("3") } : extraArgs;
    p.start(bin + QStringLiteral("tidemark"), args);
    if (!p.waitForFinished(120000) || p.exitCode() != 0 || !QFileInfo::exists(out)) {
        *why = QStringLiteral("tidemark record failed: ") + QString::fromLocal8Bit(p.readAll()).right(400);
        return {};
    }
    return out;
}

} // namespace tidemark::gui::test
