package tracing

import (
	"go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// TemporalInterceptor carries the trace through Temporal: on the api's client it records the
// workflow's start under the notify request's span and writes its context into the workflow's
// header; on the worker it continues that trace in the workflow (its child workflows and the
// activities it schedules) and in each activity run. Spans are recorded with the provider
// installed when it is called. Workflow spans are not recorded while a workflow replays, and a
// history without the header (one started before tracing) replays as before.
func TemporalInterceptor() (interceptor.Interceptor, error) {
	return opentelemetry.NewTracingInterceptor(opentelemetry.TracerOptions{})
}
