package workflows_test

import (
	"context"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/workflows"
)

// A recoveryScenario is one recorded run of the recovery workflow; testdata holds its history as
// recovery-<name>.json (replayed with the others by TestReplayRecordedHistories). The fake
// RecoveryPage serves its pages; fakeDeliver answers by the endpoint (wh_ok delivers, wh_failed
// fails); an endpoint wh_disabled stops the recovery at its first page.
type recoveryScenario struct {
	name      string
	webhookID string
	pages     [][]string
	runLimit  int
	want      workflows.RecoveryResult
	continues bool // the run ends by continuing as new
}

func (sc recoveryScenario) recoveryID() string { return "rcv_rec_" + sc.name }

func (sc recoveryScenario) file() string {
	return historyName{scenario: "recovery-" + sc.name, child: -1}.path()
}

var recoveryScenarios = []recoveryScenario{
	{
		// Three pages, one empty: every event delivered, progress completed.
		name: "pages", webhookID: "wh_ok",
		pages: [][]string{{"evt_r1", "evt_r2", "evt_r3", "evt_r4", "evt_r5"}, {}, {"evt_r6"}},
		want:  workflows.RecoveryResult{Found: 6, Sent: 6},
	},
	{
		// The endpoint fails every delivery: found, none sent.
		name: "failed", webhookID: "wh_failed",
		pages: [][]string{{"evt_f1", "evt_f2"}},
		want:  workflows.RecoveryResult{Found: 2},
	},
	{
		// The endpoint was disabled: the first page stops the recovery.
		name: "stopped", webhookID: "wh_disabled",
		want: workflows.RecoveryResult{Stopped: "endpoint disabled"},
	},
	{
		// A run of at most 3 deliveries continues as new after its second page.
		name: "continues", webhookID: "wh_ok", runLimit: 3,
		pages:     [][]string{{"evt_c1", "evt_c2"}, {"evt_c3", "evt_c4"}, {"evt_c5"}},
		continues: true,
	},
}

func isRecoveryScenario(name string) bool {
	for _, sc := range recoveryScenarios {
		if "recovery-"+sc.name == name {
			return true
		}
	}
	return false
}

// fakeRecoveryPage serves a recovery scenario's pages: page i is asked for with After = i.
func fakeRecoveryPage(_ context.Context, in activities.RecoveryPageInput) (activities.RecoveryPage, error) {
	for _, sc := range recoveryScenarios {
		if sc.recoveryID() != in.RecoveryID {
			continue
		}
		if in.WebhookID == "wh_disabled" {
			return activities.RecoveryPage{Stopped: "endpoint disabled"}, nil
		}
		return pageOf(sc.pages, in.After), nil
	}
	return activities.RecoveryPage{}, temporal.NewNonRetryableApplicationError("no scenario for "+in.RecoveryID, "Test", nil)
}

func fakeRecordRecoveryProgress(context.Context, activities.RecoveryProgressInput) error { return nil }

// TestRecordRecoveryHistories records the recovery scenarios as TestRecordHistories records the
// event's: only with -record, never over an existing file.
func TestRecordRecoveryHistories(t *testing.T) {
	if !*record {
		t.Skip("records histories only with -record")
	}
	const taskQueue = "record-recovery-histories"
	ctx, c := onDevServer(t, taskQueue, 5*time.Minute, nil)
	for _, sc := range recoveryScenarios {
		t.Run(sc.name, func(t *testing.T) {
			_, err := os.Stat(sc.file())
			require.ErrorIs(t, err, fs.ErrNotExist, "%s is recorded: histories are never rewritten", sc.file())
			in := workflows.RecoveryInput{
				OrgID: testOrgID, WebhookID: sc.webhookID, RecoveryID: sc.recoveryID(), RunLimit: sc.runLimit,
				Since: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC),
			}
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: workflows.RecoveryWorkflowID(sc.webhookID, sc.recoveryID()), TaskQueue: taskQueue,
			}, workflows.RecoveryWorkflowName, in)
			require.NoError(t, err)
			first := run.GetRunID()
			var res workflows.RecoveryResult
			// Get follows the chain of runs to the last; the first run is the one recorded.
			require.NoError(t, run.Get(ctx, &res))
			hist := history(ctx, t, c, run.GetID(), first)
			last := hist.GetEvents()[len(hist.GetEvents())-1]
			require.Equal(t, sc.continues, last.GetWorkflowExecutionContinuedAsNewEventAttributes() != nil, "the run continued as new")
			if !sc.continues {
				require.Equal(t, sc.want, res)
			}
			writeHistory(t, sc.file(), hist)
		})
	}
}
