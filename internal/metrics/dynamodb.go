package metrics

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// DynamoDB error classes (pcx_dynamodb_errors_total's class label): a fixed list, so an
// unexpected error code cannot grow the series.
const (
	ddbThrottled           = "throttled"                // ProvisionedThroughputExceeded, Throttling, RequestLimitExceeded
	ddbConditionFailed     = "conditional_check_failed" // a conditional write refused: the store's normal control flow
	ddbTransactionConflict = "transaction_conflict"     // another transaction held an item
	ddbTransactionCanceled = "transaction_canceled"     // canceled for another reason (validation, size)
	ddbValidation          = "validation"
	ddbNotFound            = "resource_not_found"
	ddbTimeout             = "timeout"  // the call's deadline (store.CallTimeout or the caller's) passed
	ddbCanceled            = "canceled" // the caller went away
	ddbServer              = "server"   // InternalServerError, ServiceUnavailable, any other 5xx code
	ddbOther               = "other"    // anything else, a connection failure among them
)

// throttleCodes are the answers counted in pcx_dynamodb_throttles_total, under their code without
// the "Exception" suffix. TransactionConflict is contention, not capacity, but it is retried and
// answered the same way (back off, spread the writes), so it is counted beside them.
var throttleCodes = map[string]string{
	"ProvisionedThroughputExceededException": "ProvisionedThroughputExceeded",
	"ProvisionedThroughputExceeded":          "ProvisionedThroughputExceeded", // as a transaction's cancellation reason
	"ThrottlingException":                    "Throttling",
	"ThrottlingError":                        "Throttling", // as a transaction's cancellation reason
	"RequestLimitExceeded":                   "RequestLimitExceeded",
	"TransactionConflictException":           "TransactionConflict",
	"TransactionConflict":                    "TransactionConflict", // as a transaction's cancellation reason
}

// DynamoDBMiddleware counts every DynamoDB call of a client by operation (GetItem, Query,
// TransactWriteItems, ...): calls, the SDK's retries, throttled attempts (also those a retry
// recovered from) and calls that ended in an error, by class. Add it to the client's APIOptions.
//
// It sits in the Initialize step, outside the SDK's retry loop, so it sees each call once, with
// the results of all its attempts in the retry middleware's metadata.
func (m *Metrics) DynamoDBMiddleware() func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("pcxMetrics",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleInitialize(ctx, in)
				m.observeDynamoDB(middleware.GetOperationName(ctx), md, err)
				return out, md, err
			}), middleware.After)
	}
}

func (m *Metrics) observeDynamoDB(op string, md middleware.Metadata, err error) {
	m.DynamoDBRequests.WithLabelValues(op).Inc()
	if results, ok := retry.GetAttemptResults(md); ok {
		if n := len(results.Results); n > 1 {
			m.DynamoDBRetries.WithLabelValues(op).Add(float64(n - 1))
		}
		for _, r := range results.Results {
			m.countThrottles(op, r.Err)
		}
	} else {
		m.countThrottles(op, err) // no retry middleware ran: the call's error is its one attempt's
	}
	if err != nil {
		m.DynamoDBErrors.WithLabelValues(op, dynamoDBClass(err)).Inc()
	}
}

// countThrottles counts one attempt's throttle answers: its own code, or the cancellation reasons
// of a transaction.
func (m *Metrics) countThrottles(op string, err error) {
	if err == nil {
		return
	}
	var canceled *types.TransactionCanceledException
	if errors.As(err, &canceled) {
		for _, r := range canceled.CancellationReasons {
			if r.Code != nil {
				if code, ok := throttleCodes[*r.Code]; ok {
					m.DynamoDBThrottles.WithLabelValues(op, code).Inc()
				}
			}
		}
		return
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if code, ok := throttleCodes[apiErr.ErrorCode()]; ok {
			m.DynamoDBThrottles.WithLabelValues(op, code).Inc()
		}
	}
}

// dynamoDBClass names the error a call ended in.
func dynamoDBClass(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return ddbTimeout
	case errors.Is(err, context.Canceled):
		return ddbCanceled
	}
	var canceled *types.TransactionCanceledException
	if errors.As(err, &canceled) {
		class := ddbTransactionCanceled
		for _, r := range canceled.CancellationReasons {
			if r.Code == nil {
				continue
			}
			switch code := throttleCodes[*r.Code]; {
			case code == "TransactionConflict":
				return ddbTransactionConflict
			case code != "":
				return ddbThrottled
			case *r.Code == "ConditionalCheckFailed":
				class = ddbConditionFailed
			}
		}
		return class
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return ddbOther
	}
	code := apiErr.ErrorCode()
	switch {
	case throttleCodes[code] == "TransactionConflict":
		return ddbTransactionConflict
	case throttleCodes[code] != "":
		return ddbThrottled
	case code == "ConditionalCheckFailedException":
		return ddbConditionFailed
	case code == "ValidationException", code == "SerializationException":
		return ddbValidation
	case code == "ResourceNotFoundException":
		return ddbNotFound
	case apiErr.ErrorFault() == smithy.FaultServer, code == "InternalServerError", code == "ServiceUnavailable":
		return ddbServer
	}
	return ddbOther
}
