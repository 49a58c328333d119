// Formatting helpers (see format.h).
#include "gui/lib/format.h"

#include "analysis/report.h"

#include <QHashFunctions>
#include <QLocale>

#include <array>
#include <cmath>

namespace tidemark::gui {

QString formatBytes(int64_t bytes)
{
    return QString::fromStdString(analysis::humanBytes(static_cast<double>(bytes)));
}

QString formatDuration(analysis::TimeNs ns)
{
    return QString::fromStdString(analysis::humanDuration(ns));
}

QString formatOffset(analysis::TimeNs ns, analysis::TimeNs spanNs)
{
    // Enough decimals that neighbouring ticks of the span differ.
    int decimals = 0;
    double span = std::max<double>(1.0, static_cast<double>(spanNs)) / 1e9;
    while (span < 10.0 && decimals < 9) {
        span *= 10.0;
        ++decimals;
    }
    return QString::number(static_cast<double>(ns) / 1e9, 'f', decimals) + QStringLiteral(" s");
}

QString formatPercent(double share)
{
    return QString::number(share * 100.0, 'f', share < 0.1 ? 1 : 0) + QLatin1Char('%');
}

QString formatCount(int64_t n)
{
    return QLocale::c().toString(static_cast<qlonglong>(n));
}

QColor groupColor(int index)
{
    // Tableau 10: distinguishable, and readable with dark text on top.
    static const std::array<QRgb, 10> kColors { 0x4e79a7, 0xf28e2b, 0x59a14f, 0xe15759, 0x76b7b2, 0xedc948, 0xb07aa1,
        0xff9da7, 0x9c755f, 0x86bcb6 };
    return QColor(kColors[static_cast<size_t>(index) % kColors.size()]);
}

QColor otherColor()
{
    return QColor(0xbab0ac);
}

QColor colorForKey(const QString& key)
{
    return groupColor(static_cast<int>(qHash(key) % 10));
}

} // namespace tidemark::gui
