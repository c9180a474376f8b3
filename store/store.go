// Package store keeps the service's state in one DynamoDB table.
//
// The table is designed from the access patterns (see table.go): a key by prefix on every
// request, a key by id, an organisation's keys newest first, an organisation's endpoints, an event
// with its deliveries, and idempotency records. Uniqueness and tenant checks are conditions of
// the writes themselves, so nothing can slip in between a read and a write. AWS errors never
// leave this package: they become pcx errors (ENotFound, EConflict, EUnavailable, ...).
package store

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/pcx/publicservice/pcx"
)

// Store is the DynamoDB-backed state of the service.
type Store struct {
	db    *dynamodb.Client
	table string
	// box seals webhook secrets; required for webhook writes and secret reads.
	box SecretBox
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// New returns a Store over an existing client and table. box seals webhook signing secrets; it
// may be nil for a tool that never touches them.
func New(db *dynamodb.Client, table string, box SecretBox) *Store {
	return &Store{db: db, table: table, box: box, Now: time.Now}
}

// ClientOptions configure the DynamoDB client.
type ClientOptions struct {
	Region   string
	Endpoint string // "" for AWS itself; DynamoDB Local's URL in development and tests
	// MaxConns bounds open connections to DynamoDB (default 256).
	MaxConns int
	// APIOptions are added to the client's middleware stacks (metrics.DynamoDBMiddleware).
	APIOptions []func(*middleware.Stack) error
}

// Bounds of every DynamoDB call, so a database that stops answering (a blackhole, not a refusal)
// fails the call within seconds instead of holding it until its caller's own deadline: an activity
// that sent webhooks must still have the time to return its outcomes.
const (
	// CallTimeout bounds one call, the SDK's retries of it included.
	CallTimeout = 5 * time.Second
	// ResponseHeaderTimeout bounds the wait for one HTTP attempt's answer, so a hung attempt
	// leaves time in CallTimeout for the SDK to try again.
	ResponseHeaderTimeout = 3 * time.Second
)

// NewClient returns a DynamoDB client. With a custom Endpoint and no AWS credentials in the
// environment it uses static dummy credentials, which DynamoDB Local accepts. Retries are few and
// short, and every call is bounded (CallTimeout, ResponseHeaderTimeout): a request has a deadline,
// and an unavailable database must turn into a prompt 503, not a hang.
func NewClient(ctx context.Context, o ClientOptions) (*dynamodb.Client, error) {
	if o.MaxConns == 0 {
		o.MaxConns = 256
	}
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = o.MaxConns
		t.MaxIdleConnsPerHost = o.MaxConns
		t.MaxConnsPerHost = o.MaxConns
		t.ResponseHeaderTimeout = ResponseHeaderTimeout
	}).WithDialerOptions(func(d *net.Dialer) {
		d.Timeout = 2 * time.Second
	})
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(o.Region),
		config.WithHTTPClient(httpClient),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = 3
				so.MaxBackoff = 200 * time.Millisecond
				so.RateLimiter = ratelimit.None
			})
		}),
	}
	if o.Endpoint != "" && !awsCredentialsInEnv() {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return dynamodb.NewFromConfig(cfg, func(do *dynamodb.Options) {
		do.APIOptions = append(do.APIOptions, withCallTimeout(CallTimeout))
		do.APIOptions = append(do.APIOptions, o.APIOptions...)
		if o.Endpoint != "" {
			do.BaseEndpoint = aws.String(o.Endpoint)
			// DynamoDB Local's error responses carry a CRC32 header that does not match their
			// body; AWS's own do, so validation stays on there.
			do.DisableValidateResponseChecksum = true
		}
	}), nil
}

// withCallTimeout bounds each call of the client, its retries included, by d (or by the caller's
// own deadline, if sooner). It runs first in the call's middleware stack, so the bound covers
// signing, every attempt and the decoding of the answer.
func withCallTimeout(d time.Duration) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("pcxCallTimeout",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				ctx, cancel := context.WithTimeout(ctx, d)
				defer cancel()
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
}

func awsCredentialsInEnv() bool {
	return os.Getenv("AWS_ACCESS_KEY_ID") != "" || os.Getenv("AWS_PROFILE") != "" || os.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE") != ""
}

// Ping checks the table answers, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.table})
	return translate(err)
}

// translate turns an AWS error into a pcx error: a timeout, a missing table, or an unreachable,
// throttled or failing database is EUnavailable (a 503 the caller may retry); any other answer
// of DynamoDB is EInternal. A pcx error passes unchanged. Not-found answers are the callers' own: DynamoDB reports a missing item as an
// empty result, not an error.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var pe *pcx.Error
	if errors.As(err, &pe) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return pcx.Wrap(pcx.EUnavailable, err, "The database did not answer in time; retry later")
	}
	var (
		notFound   *types.ResourceNotFoundException
		throughput *types.ProvisionedThroughputExceededException
		limit      *types.RequestLimitExceeded
		internal   *types.InternalServerError
	)
	switch {
	case errors.As(err, &notFound):
		return pcx.Wrap(pcx.EUnavailable, err, "The database is not ready; retry later")
	case errors.As(err, &throughput), errors.As(err, &limit), errors.As(err, &internal):
		return pcx.Wrap(pcx.EUnavailable, err, "The database is busy; retry later")
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ThrottlingException", "ServiceUnavailable", "InternalFailure":
			return pcx.Wrap(pcx.EUnavailable, err, "The database is busy; retry later")
		}
		return pcx.Wrap(pcx.EInternal, err, "")
	}
	// No API error: the request never got an answer (connection refused, reset, DNS, retry
	// quota): the database is unreachable.
	return pcx.Wrap(pcx.EUnavailable, err, "The database is unavailable; retry later")
}

// queryPage runs a query until it has limit+1 items or the partition ends, and returns the first
// limit of them and whether more exist. Asking for one extra item makes "no next page" exact,
// where DynamoDB's LastEvaluatedKey alone can point at an empty page.
func (s *Store) queryPage(ctx context.Context, in *dynamodb.QueryInput, limit int) ([]map[string]types.AttributeValue, bool, error) {
	var items []map[string]types.AttributeValue
	for {
		in.Limit = aws.Int32(int32(limit + 1 - len(items)))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, false, translate(err)
		}
		items = append(items, out.Items...)
		if len(items) > limit {
			return items[:limit], true, nil
		}
		if out.LastEvaluatedKey == nil {
			return items, false, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// listPage returns a page of a query's items, decoded, starting after a position a previous
// page returned. start turns a position into DynamoDB's start key (nil for one that is not
// valid: a 400); position names an item for the next page; next is "" on the last page.
// Positions are this package's own encoding of the last item's IDs, never DynamoDB's raw key;
// callers sign them before handing them out.
func listPage[T any](ctx context.Context, s *Store, in *dynamodb.QueryInput, limit int, after string,
	start func(string) map[string]types.AttributeValue, decode func(map[string]types.AttributeValue) (T, error),
	position func(T) string) ([]T, string, error) {
	if after != "" {
		if len(after) > 128 {
			return nil, "", errBadPosition
		}
		if in.ExclusiveStartKey = start(after); in.ExclusiveStartKey == nil {
			return nil, "", errBadPosition
		}
	}
	items, more, err := s.queryPage(ctx, in, limit)
	if err != nil {
		return nil, "", err
	}
	out := make([]T, 0, len(items))
	for _, it := range items {
		v, err := decode(it)
		if err != nil {
			return nil, "", err
		}
		out = append(out, v)
	}
	next := ""
	if more {
		next = position(out[len(out)-1])
	}
	return out, next, nil
}

// batchGet reads the items of ids (keyOf names each one's key; an ID named twice is read once)
// in consistent BatchGetItem calls of up to 100 keys each, resending what DynamoDB left
// unprocessed, and hands each item found to found; an error of found ends the read.
func (s *Store) batchGet(ctx context.Context, ids []string, keyOf func(string) map[string]types.AttributeValue,
	found func(map[string]types.AttributeValue) error) error {
	seen := map[string]bool{}
	var keys []map[string]types.AttributeValue
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			keys = append(keys, keyOf(id))
		}
	}
	for len(keys) > 0 {
		batch := keys[:min(100, len(keys))]
		keys = keys[len(batch):]
		err := retryPartial(ctx, unprocessedRetry, func() (bool, error) {
			res, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
				RequestItems: map[string]types.KeysAndAttributes{s.table: {Keys: batch, ConsistentRead: aws.Bool(true)}},
			})
			if err != nil {
				return false, translate(err)
			}
			for _, m := range res.Responses[s.table] {
				if err := found(m); err != nil {
					return false, err
				}
			}
			batch = res.UnprocessedKeys[s.table].Keys
			return len(batch) > 0, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

var errBadPosition = pcx.Errorf(pcx.EInvalid, "last_evaluated_key is not valid")

// transact runs a transaction, retrying a few times when DynamoDB cancels it for a conflict with
// another transaction on the same items (real DynamoDB does, e.g. two endpoints created at once
// bump the same per-org count; the SDK does not retry that). A cancellation for a failed
// condition is returned at once: it is an answer, not a fault. The error is DynamoDB's own, for
// the caller to read its cancellation reasons.
func (s *Store) transact(ctx context.Context, in *dynamodb.TransactWriteItemsInput) error {
	return retryPartial(ctx, conflictRetry, func() (bool, error) {
		_, err := s.db.TransactWriteItems(ctx, in)
		return isTransactionConflict(err), err
	})
}

// A retryPolicy bounds retryPartial: how many calls in all, and the first wait between two of them.
type retryPolicy struct {
	attempts int
	base     time.Duration
}

var (
	// unprocessedRetry resends what a batch read or write left unprocessed (DynamoDB throttles
	// the rest of a batch rather than failing it): waits of about 10ms to 1.3s, 2.5s in all.
	unprocessedRetry = retryPolicy{attempts: 9, base: 10 * time.Millisecond}
	// conflictRetry retries a transaction cancelled for a conflict: waits of about 5ms to 40ms.
	conflictRetry = retryPolicy{attempts: 5, base: 5 * time.Millisecond}
)

// errBusy is what retryPartial returns when DynamoDB still held work back after the last attempt.
var errBusy = pcx.Errorf(pcx.EUnavailable, "The database is busy; retry later")

// retryPartial is the store's one retry loop, for the partial answers DynamoDB gives under load
// that the SDK's own retries do not cover: items a batch left unprocessed, a transaction
// cancelled for a conflict. It calls op at most p.attempts times; op reports whether another call
// is needed (again) and its error. As soon as op needs no other call, its error is returned.
// Between calls retryPartial waits p.base, doubled after each call, times a jitter factor in
// [0.5, 1.5), so writers that collided once do not collide again in step. When the attempts run
// out, or ctx ends during a wait, it returns op's last error; if op had none (work was only held
// back), errBusy or ctx's error, as pcx errors.
func retryPartial(ctx context.Context, p retryPolicy, op func() (again bool, err error)) error {
	wait := p.base
	for attempt := 1; ; attempt++ {
		again, err := op()
		switch {
		case !again:
			return err
		case attempt >= p.attempts && err != nil:
			return err
		case attempt >= p.attempts:
			return errBusy
		}
		t := time.NewTimer(time.Duration(float64(wait) * (0.5 + rand.Float64())))
		select {
		case <-ctx.Done():
			t.Stop()
			if err != nil {
				return err
			}
			return translate(ctx.Err())
		case <-t.C:
		}
		wait *= 2
	}
}

func isTransactionConflict(err error) bool {
	for _, r := range cancellationReasons(err) {
		if r == "TransactionConflict" {
			return true
		}
	}
	var inProgress *types.TransactionInProgressException
	return errors.As(err, &inProgress)
}

// isConditionFailed reports whether err is a failed condition of a single-item write.
func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// cancellationReasons returns the per-item reason codes of a cancelled transaction, nil if err is
// not one.
func cancellationReasons(err error) []string {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil
	}
	codes := make([]string, len(tce.CancellationReasons))
	for i, r := range tce.CancellationReasons {
		codes[i] = aws.ToString(r.Code)
	}
	return codes
}
