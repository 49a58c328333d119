// The tidemark-gui window: the timeline on top and, below it, the panes the selection drives (what
// was live or what happened in a range, top-down and bottom-up trees, the flame graph, the segment
// map) plus the summary page and the diff of two recordings. Queries run on two QueryRunners (fast:
// timeline and lanes; slow: scans of a space), each with its own Recording, newest request wins.
#pragma once

#include "gui/lib/loader.h"
#include "gui/lib/selection.h"
#include "gui/lib/time_mapping.h"

#include <QMainWindow>
#include <QPointer>
#include <QTimer>

#include <functional>
#include <memory>

class QComboBox;
class QLabel;
class QProgressBar;
class QSplitter;
class QTabWidget;
class QToolButton;
class QTreeView;
class QTableView;

namespace tidemark::gui {

class BreakdownModel;
class CallTreeModel;
class DiffModel;
class FlameWidget;
class HeapModel;
class QueryRunner;
class SegmentWidget;
class StackModel;
class SummaryModel;
class TimelineWidget;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    enum class View { Summary, Timeline, Segments, Flame, Diff };

    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    void openFile(const QString& path);
    void compareWith(const QString& path);
    void showView(View view);
    // Calls done(ok) once the recording is loaded, the report is in and no query is pending.
    void whenIdle(std::function<void(bool ok)> done);
    QString lastError() const { return m_lastError; }
    void select(const Selection& s);
    const Selection& selection() const { return m_selection; }
    const Overview* overview() const { return m_overview.get(); }
    // The panes' models, for tests that check what a selection shows.
    const BreakdownModel* primaryModel() const { return m_primaryModel; }
    const BreakdownModel* secondaryModel() const { return m_secondaryModel; }
    const CallTreeModel* topDownModel() const { return m_topDownModel; }
    const HeapModel* heapModel() const { return m_heapModel; }
    const SummaryModel* summaryModel() const { return m_summaryModel; }
    const DiffModel* diffModel() const { return m_diffModel; }

protected:
    void dragEnterEvent(QDragEnterEvent* e) override;
    void dropEvent(QDropEvent* e) override;

private:
    void buildUi();
    void buildActions();
    QWidget* buildSelectionPane();
    QWidget* buildSummaryPage();
    QWidget* buildTreePane(QTreeView*& view, CallTreeModel*& model);
    void onOverview(std::shared_ptr<Overview> overview);
    void onSummary(std::shared_ptr<analysis::Summary> summary, std::shared_ptr<analysis::Coverage> coverage);
    void onReport(std::shared_ptr<analysis::Report> report);
    void onFailed(const QString& message);
    void requestView();
    void requestSelectionPanes();
    void requestLive();
    void requestTrees();
    void requestSegments();
    void requestStack(int64_t callsiteId);
    void updateTimelineVisibility();
    void checkIdle();
    int64_t currentSpaceId() const;
    QString spaceName(int64_t id) const;

    // data
    std::shared_ptr<Overview> m_overview;
    std::shared_ptr<analysis::Report> m_report;
    Loader* m_loader = nullptr;
    QueryRunner* m_fast = nullptr;
    QueryRunner* m_slow = nullptr;
    Selection m_selection;
    QString m_comparePath;
    bool m_loading = false;
    bool m_diffPending = false;
    QString m_lastError;

    // widgets
    QSplitter* m_splitter = nullptr;
    TimelineWidget* m_timeline = nullptr;
    QTabWidget* m_tabs = nullptr;
    QWidget* m_summaryPage = nullptr;
    QWidget* m_selectionPage = nullptr;
    QWidget* m_topDownPage = nullptr;
    QWidget* m_bottomUpPage = nullptr;
    QWidget* m_diffPage = nullptr;
    QLabel* m_summaryHeader = nullptr;
    QTreeView* m_summaryView = nullptr;
    QLabel* m_selectionHeader = nullptr;
    QTableView* m_primaryTable = nullptr;
    QTableView* m_secondaryTable = nullptr;
    QLabel* m_primaryLabel = nullptr;
    QLabel* m_secondaryLabel = nullptr;
    QTableView* m_stackTable = nullptr;
    QLabel* m_stackLabel = nullptr;
    QTreeView* m_topDownView = nullptr;
    QTreeView* m_bottomUpView = nullptr;
    FlameWidget* m_flame = nullptr;
    SegmentWidget* m_segments = nullptr;
    QTableView* m_heapTable = nullptr;
    QTableView* m_diffTable = nullptr;
    QLabel* m_diffHeader = nullptr;
    QComboBox* m_spaceBox = nullptr;
    QComboBox* m_stackByBox = nullptr;
    QComboBox* m_weightBox = nullptr;
    QLabel* m_treeCaption = nullptr;
    QProgressBar* m_progress = nullptr;
    QToolButton* m_cancel = nullptr;
    QLabel* m_status = nullptr;

    // models
    SummaryModel* m_summaryModel = nullptr;
    BreakdownModel* m_primaryModel = nullptr;
    BreakdownModel* m_secondaryModel = nullptr;
    StackModel* m_stackModel = nullptr;
    CallTreeModel* m_topDownModel = nullptr;
    CallTreeModel* m_bottomUpModel = nullptr;
    HeapModel* m_heapModel = nullptr;
    DiffModel* m_diffModel = nullptr;

    QTimer m_viewTimer;
    QTimer m_idleTimer;
    std::function<void(bool)> m_idleCallback;
    int m_idleStreak = 0;
};

} // namespace tidemark::gui
