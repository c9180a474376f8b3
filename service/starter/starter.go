// Package starter starts event workflows on Temporal for the API, translating Temporal's errors
// into the project's: an unreachable or overloaded Temporal is a 503 with Retry-After, never a
// 500 carrying its error text.
package starter

import (
	"context"
	"errors"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/workflows"
)

// Starter starts workflows on one task queue.
type Starter struct {
	Client    client.Client
	TaskQueue string
}

// Start starts the event workflow with the business ID workflowID and returns its run ID once
// Temporal has recorded the start. If a workflow with that ID is running, or has run, its run ID
// is returned instead: a retried or concurrent notify never starts a second fan-out.
//
// A namespace that does not know PcxEventType yet (a rolling upgrade whose api went out before
// the namespace was set up: the worker registers it at start) does not refuse events: the
// workflow starts without that attribute, and the input still carries the type.
func (s *Starter) Start(ctx context.Context, workflowID string, in workflows.EventInput) (string, error) {
	opts := s.options(workflowID, in.SearchAttributes())
	run, err := s.Client.ExecuteWorkflow(ctx, opts, workflows.EventWorkflowName, in)
	var invalid *serviceerror.InvalidArgument
	if errors.As(err, &invalid) && in.EventType != "" && strings.Contains(invalid.Error(), workflows.EventTypeAttr.GetName()) {
		opts.TypedSearchAttributes = workflows.SearchAttributes(in.OrgID, in.EventID)
		run, err = s.Client.ExecuteWorkflow(ctx, opts, workflows.EventWorkflowName, in)
	}
	return runID(run, err)
}

// runID is the run ID of a workflow started, or of the one found already started with its ID.
func runID(run client.WorkflowRun, err error) (string, error) {
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &started):
		return started.RunId, nil
	case err != nil:
		return "", Translate(err)
	}
	return run.GetRunID(), nil
}

// Running reports whether the workflow's latest run is running, and whether Temporal knows the
// workflow at all. It describes the execution, which reads Temporal's own record of it: unlike a
// visibility query (list), it is not eventually consistent, so a replay that has just started is
// seen as running by every api instance.
func (s *Starter) Running(ctx context.Context, workflowID string) (running, exists bool, err error) {
	d, err := s.Client.DescribeWorkflowExecution(ctx, workflowID, "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return false, false, nil
	case err != nil:
		return false, false, Translate(err)
	}
	return d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, true, nil
}

// Translate maps a Temporal client error to a pcx error.
func Translate(err error) error {
	var (
		unavailable *serviceerror.Unavailable
		exhausted   *serviceerror.ResourceExhausted
		deadline    *serviceerror.DeadlineExceeded
		canceled    *serviceerror.Canceled
	)
	switch {
	case errors.As(err, &unavailable), errors.As(err, &exhausted), errors.As(err, &deadline),
		errors.As(err, &canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return pcx.Wrap(pcx.EUnavailable, err, "The workflow service is unavailable; retry later")
	}
	// Anything else (a namespace that does not exist, an unregistered search attribute) is our
	// misconfiguration, not the caller's: a 500 with the cause in the logs.
	return pcx.Wrap(pcx.EInternal, err, "")
}

// StartRecovery starts a recovery's workflow with the business ID workflowID and returns its run
// ID once Temporal has recorded the start; a recovery already started under that ID is found,
// not started again. Its search attribute is the organisation's.
func (s *Starter) StartRecovery(ctx context.Context, workflowID string, in workflows.RecoveryInput) (string, error) {
	opts := s.options(workflowID, temporal.NewSearchAttributes(workflows.OrgIDAttr.ValueSet(in.OrgID)))
	return runID(s.Client.ExecuteWorkflow(ctx, opts, workflows.RecoveryWorkflowName, in))
}

// options are the start options of a workflow with a business ID: one start per ID, ever (a
// second start finds the first).
func (s *Starter) options(workflowID string, attrs temporal.SearchAttributes) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       workflowID,
		TaskQueue:                s.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes:    attrs,
		WorkflowTaskTimeout:      workflows.WorkflowTaskTimeout,
	}
}
