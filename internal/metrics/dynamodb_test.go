package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
)

// fakeDynamoDB answers each operation (X-Amz-Target) with the next of its scripted answers, the
// last one repeated: status and JSON body, as DynamoDB's JSON protocol does.
type fakeDynamoDB struct {
	mu      sync.Mutex
	answers map[string][]string // operation -> "status body"
	calls   map[string]int
}

func (f *fakeDynamoDB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	f.mu.Lock()
	a := f.answers[op]
	ans := a[min(f.calls[op], len(a)-1)]
	f.calls[op]++
	f.mu.Unlock()
	status, body, _ := strings.Cut(ans, " ")
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	switch status {
	case "200":
		w.WriteHeader(http.StatusOK)
	case "400":
		w.WriteHeader(http.StatusBadRequest)
	default:
		w.WriteHeader(http.StatusInternalServerError)
	}
	_, _ = w.Write([]byte(body))
}

func ddbError(code, extra string) string {
	return `400 {"__type":"com.amazonaws.dynamodb.v20120810#` + code + `","message":"test"` + extra + `}`
}

func TestDynamoDBMiddleware(t *testing.T) {
	fake := &fakeDynamoDB{calls: map[string]int{}, answers: map[string][]string{
		// Throttled once, then answered: a throttle and a retry, no error.
		"GetItem": {ddbError("ProvisionedThroughputExceededException", ""), "200 {}"},
		// A conditional write refused: an error, not retried.
		"PutItem": {ddbError("ConditionalCheckFailedException", "")},
		// A failing server: every attempt fails.
		"Query": {`500 {"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"boom"}`},
		// A transaction another one got in the way of.
		"TransactWriteItems": {ddbError("TransactionCanceledException", `,"CancellationReasons":[{"Code":"None"},{"Code":"TransactionConflict","Message":"x"}]`)},
		"DescribeTable":      {ddbError("ThrottlingException", "")},
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	m := New()
	db := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 3
			o.RateLimiter = ratelimit.None
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
		}),
		APIOptions: []func(*middleware.Stack) error{m.DynamoDBMiddleware()},
	})
	ctx := context.Background()
	table := aws.String("t")
	key := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "a"}}
	if _, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key}); err != nil {
		t.Fatalf("GetItem: %v", err)
	}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: key}); err == nil {
		t.Fatal("PutItem: want the condition's failure")
	}
	if _, err := db.Query(ctx, &dynamodb.QueryInput{TableName: table}); err == nil {
		t.Fatal("Query: want the server's failure")
	}
	if _, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{{Put: &types.Put{TableName: table, Item: key}}}}); err == nil {
		t.Fatal("TransactWriteItems: want the cancellation")
	}
	if _, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: table}); err == nil {
		t.Fatal("DescribeTable: want the throttle")
	}

	op := func(o string, kv ...string) map[string]string {
		l := map[string]string{"operation": o}
		for i := 0; i < len(kv); i += 2 {
			l[kv[i]] = kv[i+1]
		}
		return l
	}
	for _, o := range []string{"GetItem", "PutItem", "Query", "TransactWriteItems", "DescribeTable"} {
		wantSeries(t, m, "pcx_dynamodb_requests_total", op(o), 1)
	}
	wantSeries(t, m, "pcx_dynamodb_throttles_total", op("GetItem", "code", "ProvisionedThroughputExceeded"), 1)
	wantSeries(t, m, "pcx_dynamodb_retries_total", op("GetItem"), 1)
	wantSeries(t, m, "pcx_dynamodb_errors_total", op("PutItem", "class", "conditional_check_failed"), 1)
	wantSeries(t, m, "pcx_dynamodb_retries_total", op("Query"), 2)
	wantSeries(t, m, "pcx_dynamodb_errors_total", op("Query", "class", "server"), 1)
	wantSeries(t, m, "pcx_dynamodb_errors_total", op("TransactWriteItems", "class", "transaction_conflict"), 1)
	wantSeries(t, m, "pcx_dynamodb_throttles_total", op("TransactWriteItems", "code", "TransactionConflict"), 1)
	wantSeries(t, m, "pcx_dynamodb_throttles_total", op("DescribeTable", "code", "Throttling"), 3)
	wantSeries(t, m, "pcx_dynamodb_errors_total", op("DescribeTable", "class", "throttled"), 1)
	if _, ok := series(t, m, "pcx_dynamodb_errors_total", op("GetItem", "class", "throttled")); ok {
		t.Error("a throttle the SDK's retry recovered from is no error of the call")
	}
}

func TestDynamoDBClass(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{context.DeadlineExceeded, ddbTimeout},
		{context.Canceled, ddbCanceled},
		{&types.ResourceNotFoundException{}, ddbNotFound},
		{&types.RequestLimitExceeded{}, ddbThrottled},
		{&types.TransactionConflictException{}, ddbTransactionConflict},
		{&types.TransactionCanceledException{CancellationReasons: []types.CancellationReason{{Code: aws.String("ConditionalCheckFailed")}}}, ddbConditionFailed},
		{&types.TransactionCanceledException{CancellationReasons: []types.CancellationReason{{Code: aws.String("ThrottlingError")}}}, ddbThrottled},
		{&types.TransactionCanceledException{CancellationReasons: []types.CancellationReason{{Code: aws.String("ValidationError")}}}, ddbTransactionCanceled},
		{&types.InternalServerError{}, ddbServer},
		{http.ErrHandlerTimeout, ddbOther},
	} {
		if got := dynamoDBClass(tc.err); got != tc.want {
			t.Errorf("dynamoDBClass(%T %v) = %q, want %q", tc.err, tc.err, got, tc.want)
		}
	}
}
