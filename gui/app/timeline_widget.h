// The timeline: one memory track per space (live bytes stacked by phase or call site, the exact
// level-of-detail envelope on top, reserved bytes for pools, the peak marked) and lanes for NVTX
// ranges, kernels, copies and failed allocations. Wheel zooms about the cursor, drag pans, click
// selects an instant, shift+drag (or right-drag) selects a range. It paints only data it is given:
// the main window queries for each new view off the UI thread and the old data is re-mapped until then.
#pragma once

#include "analysis/stacked_timeline.h"
#include "gui/lib/loader.h"
#include "gui/lib/selection.h"
#include "gui/lib/time_mapping.h"

#include <QWidget>

#include <memory>
#include <optional>
#include <vector>

namespace tidemark::gui {

struct Lanes {
    TimeWindow window;
    std::vector<analysis::RangeSpan> ranges;
    std::vector<analysis::KernelSpan> kernels;
    std::vector<analysis::CopySpan> copies;
    std::vector<analysis::FailedAllocation> failed;
};

class TimelineWidget : public QWidget {
    Q_OBJECT
public:
    static constexpr int kLabelWidth = 190;
    static constexpr int kAxisHeight = 22;
    static constexpr int kLaneRow = 14;

    explicit TimelineWidget(QWidget* parent = nullptr);

    void setOverview(std::shared_ptr<Overview> overview);
    void setTimelines(std::vector<analysis::Timeline> timelines); // one per overview space, for the view
    void setStacked(std::vector<analysis::StackedTimeline> stacked);
    void setLanes(Lanes lanes);
    void setSelection(const Selection& s);
    void setHoverExact(analysis::TimeNs t, int64_t spaceId, int64_t bytes);

    const TimeMapping& mapping() const { return m_map; }
    int plotWidth() const;
    TimeWindow view() const { return m_map.view; }
    void setView(TimeWindow w, bool remember);
    bool canGoBack() const { return m_back.canGoBack(); }

public slots:
    void zoomToSelection();
    void back();
    void resetZoom();

signals:
    void viewChanged(tidemark::gui::TimeWindow view);
    void selectionRequested(tidemark::gui::Selection selection);
    void hoverRequested(analysis::TimeNs t, int64_t spaceId); // ask for the exact live bytes

protected:
    void paintEvent(QPaintEvent*) override;
    void resizeEvent(QResizeEvent*) override;
    void wheelEvent(QWheelEvent*) override;
    void mousePressEvent(QMouseEvent*) override;
    void mouseMoveEvent(QMouseEvent*) override;
    void mouseReleaseEvent(QMouseEvent*) override;
    void leaveEvent(QEvent*) override;
    void keyPressEvent(QKeyEvent*) override;

private:
    struct Track {
        QRect rect; // plot area of the track
        int space = -1;
    };
    void layoutTracks();
    int laneHeight() const;
    int rangeDepth() const;
    const analysis::Timeline& timelineOf(int space) const;
    void paintAxis(QPainter& p);
    void paintTrack(QPainter& p, const Track& t);
    void paintStacked(QPainter& p, const Track& t, const analysis::StackedTimeline& st, double scale);
    void paintEnvelope(QPainter& p, const Track& t, const analysis::Timeline& tl, double scale, bool filled);
    void paintLegend(QPainter& p, const Track& t, const analysis::StackedTimeline* st, int64_t maxBytes);
    void paintLanes(QPainter& p);
    void paintSelection(QPainter& p);
    int trackAt(QPoint pos) const;
    QString hoverText(QPoint pos) const;
    void emitView();

    std::shared_ptr<Overview> m_overview;
    TimeMapping m_map;
    ZoomStack m_back;
    std::vector<analysis::Timeline> m_timelines;
    std::vector<std::optional<analysis::StackedTimeline>> m_stacked;
    Lanes m_lanes;
    Selection m_selection;
    std::vector<Track> m_tracks;
    QRect m_laneRect;

    // Mouse state.
    QPoint m_pressPos;
    TimeWindow m_pressView;
    bool m_dragging = false;
    bool m_selectingRange = false;
    analysis::TimeNs m_rangeAnchor = 0;
    QPoint m_hoverPos { -1, -1 };
    struct Exact {
        analysis::TimeNs t = -1;
        int64_t spaceId = 0;
        int64_t bytes = 0;
    } m_exact;
};

} // namespace tidemark::gui
