package workflows

// Change IDs of workflow.GetVersion: every one the workflows use, and only here.
//
// An event's workflow lives as long as its retry schedule (WEBHOOK_RETRY_SCHEDULE, about three
// days), a replay's as long again, and a deploy does not wait for them: a new worker replays
// histories written by the old code. A change to the sequence of commands a workflow issues (an
// activity, local activity, timer or child added, removed, reordered or replaced, a child's ID
// changed) would fail those workflows with a nondeterminism error. So such a change:
//
//  1. adds a constant here, the change ID, named for the change, its value the same words in
//     lower case joined by hyphens (it is written into histories: never rename or reuse one);
//  2. branches on it where the commands change, keeping the old code in the old branch:
//     if workflow.GetVersion(ctx, ChangeX, workflow.DefaultVersion, 1) == workflow.DefaultVersion;
//  3. records the new shape beside the old histories, never over them:
//     go test ./workflows -run TestRecordHistories -record -shape=<the change ID's value>.
//
// An old branch stays while histories of its shape may still run or be replayed: at least the
// retry schedule plus the time a replay may still be asked for (EVENT_RETENTION, 30 days) after
// the last worker without the change stopped starting workflows. Then its histories and its
// branch go together, and the minimum version of the GetVersion call is raised, not the call
// removed. TestGetVersionChangeIDsAreListed fails on a GetVersion call whose change ID is not a
// constant of this block; docs/workflow-versioning.md says more.
const (
	// ChangeChildrenEndAlone: a child batch's end ends nothing else. Children are started with
	// PARENT_CLOSE_POLICY_ABANDON (the default terminated every sibling, with its pending
	// retries, when the parent ended), and the event waits for every child, naming in its
	// Summary those that ended without one, instead of failing on the first.
	ChangeChildrenEndAlone = "children-end-alone"
	// ChangeChildIDFromHistory: a child's ID carries the run ID recorded (a SideEffect) when it
	// was first started, not the run ID of the run replaying it, so a parent reset past a
	// child's start replays, and the children a reset run starts itself are fresh.
	ChangeChildIDFromHistory = "child-id-from-history"
	// ChangeFailedBatchReadsOutcomes: a first-attempt batch that failed (it timed out, its worker
	// died: it may have sent) is followed by a ReadOutcomes activity, which reads the chunk's
	// records; only the deliveries without an outcome of this run continue as durable Delivers,
	// with the sends their records show counted. Before, every endpoint of the chunk was sent
	// again from the start of the schedule.
	ChangeFailedBatchReadsOutcomes = "failed-batch-reads-outcomes"
	// ChangePlanningEnds: planning an event ends after MaxPlanFailures failed attempts (about 73
	// hours of a store that does not answer) with a PlanningExhausted failure, its waits capped
	// at PlanMaxWait (was 5 minutes) and each attempt within 20s (was 1 minute). Before, it
	// retried for as long as it took, and the history grew until Temporal terminated the
	// workflow. Asked at the first failure only.
	ChangePlanningEnds = "planning-ends"
	// ChangeChildEventType: a child batch carries the PcxEventType search attribute of its
	// event, as the event's own workflow does. Asked only when the input names the type (a
	// workflow started since event types existed) and the event's workflow carries it.
	ChangeChildEventType = "child-event-type"
)
