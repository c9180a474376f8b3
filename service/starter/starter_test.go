package starter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/workflows"
)

func TestTranslate(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want pcx.Code
	}{
		{serviceerror.NewUnavailable("connection refused 10.0.0.1:7233"), pcx.EUnavailable},
		{serviceerror.NewResourceExhausted(0, "rps"), pcx.EUnavailable},
		{serviceerror.NewDeadlineExceeded("slow"), pcx.EUnavailable},
		{fmt.Errorf("dial: %w", context.DeadlineExceeded), pcx.EUnavailable},
		{serviceerror.NewNotFound("namespace default not found"), pcx.EInternal},
		{serviceerror.NewInvalidArgument("search attribute PcxOrgId not registered"), pcx.EInternal},
		{errors.New("something else"), pcx.EInternal},
	} {
		got := Translate(tc.err)
		if pcx.ErrorCode(got) != tc.want {
			t.Errorf("Translate(%v) = %v, want code %s", tc.err, got, tc.want)
		}
		if msg := pcx.ErrorMessage(got); msg == tc.err.Error() || containsAny(msg, "10.0.0.1", "rps", "PcxOrgId", "namespace") {
			t.Errorf("Translate(%v) exposes the cause in %q", tc.err, msg)
		}
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// recordingClient records the options of the workflows it is asked to start.
type recordingClient struct {
	client.Client
	opts []client.StartWorkflowOptions
}

func (c *recordingClient) ExecuteWorkflow(_ context.Context, o client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
	c.opts = append(c.opts, o)
	return nil, serviceerror.NewUnavailable("recorded")
}

// The event's workflow starts with the workflow task timeout whose 80% (the local activities'
// heartbeat of the task) leaves seconds to spare, not Temporal's default of 10s.
func TestStartSetsWorkflowTaskTimeout(t *testing.T) {
	c := &recordingClient{}
	s := &Starter{Client: c, TaskQueue: "q"}
	_, _ = s.Start(context.Background(), "webhook-event-evt_1", workflows.EventInput{EventID: "evt_1", OrgID: "org"})
	if len(c.opts) != 1 || c.opts[0].WorkflowTaskTimeout != workflows.WorkflowTaskTimeout {
		t.Fatalf("start options %+v, want WorkflowTaskTimeout %s", c.opts, workflows.WorkflowTaskTimeout)
	}
}

// describingClient answers DescribeWorkflowExecution with status, or err.
type describingClient struct {
	client.Client
	status enumspb.WorkflowExecutionStatus
	err    error
}

func (c describingClient) DescribeWorkflowExecution(context.Context, string, string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	if c.err != nil {
		return nil, c.err
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{Status: c.status}}, nil
}

func TestRunning(t *testing.T) {
	for _, tc := range []struct {
		c               describingClient
		running, exists bool
		code            pcx.Code
	}{
		{c: describingClient{status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING}, running: true, exists: true},
		{c: describingClient{status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED}, exists: true},
		{c: describingClient{status: enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED}, exists: true},
		{c: describingClient{err: serviceerror.NewNotFound("workflow not found")}},
		{c: describingClient{err: serviceerror.NewUnavailable("down")}, code: pcx.EUnavailable},
	} {
		running, exists, err := (&Starter{Client: tc.c}).Running(context.Background(), "wf")
		if running != tc.running || exists != tc.exists || pcx.ErrorCode(err) != tc.code {
			t.Errorf("%+v: running %v exists %v err %v, want %v %v %q", tc.c, running, exists, err, tc.running, tc.exists, tc.code)
		}
	}
}
