package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The single-table layout. Every item has PK and SK; GSI1 and GSI2 serve listings whose natural
// key is not the item's primary key. Both are sparse: only the items listed carry their keys.
//
//	item             PK                         SK              GSI1PK / GSI1SK
//	API key          KEY#<prefix>               KEY             ORG#<org>#KEYS / <api_key_id>
//	                                                            GSI2 (minted by another key): KEY#<created_by>#CHILDREN / <api_key_id>
//	API key by id    KEYID#<api_key_id>         KEYID           -
//	webhook          ORG#<org>#WH               <webhook_id>    -
//	webhook URL      ORG#<org>#URL              <sha256(url)>   -
//	event            EVT#<event_id>             EVT             GSI2: ORG#<org>#EVT / <event_id>
//	delivery         EVT#<event_id>             DLV#<webhook_id> GSI2: WH#<webhook_id>#DLV / <event_id>
//	running replay   EVT#<event_id>             REPLAY          -
//	running recovery WH#<webhook_id>            RECOVERY        -
//	recovery         WH#<webhook_id>            RCV#<recovery_id> -
//	idempotency      IDEM#<org>#<sha256(key)>   IDEM            -
//	audit record     ORG#<org>#AUDIT            <audit_id>      AUD#<org>#ACT#<action> / <audit_id>
//	                                                            GSI2: AUD#<org>#TGT#<target_id> / <audit_id>
//
// IDs sort by creation time (pcx.NewID), so "newest first" is a reverse query on a sort key, and
// a time window is a range of IDs (pcx.FirstID, pcx.LastID).
// GSI1 projects key metadata only: the secret's HMAC never leaves the base table. GSI2 projects
// what its lists show, never an event's payload: a page of it reads a few kilobytes, whatever
// the payloads weigh.
const (
	attrPK     = "PK"
	attrSK     = "SK"
	attrGSI1PK = "GSI1PK"
	attrGSI1SK = "GSI1SK"
	attrGSI2PK = "GSI2PK"
	attrGSI2SK = "GSI2SK"
	attrTTL    = "ttl"
	gsi1       = "GSI1"
	gsi2       = "GSI2"
)

// keyMetadataAttrs are the attributes GSI1 projects besides its keys.
var keyMetadataAttrs = []string{"api_key_id", "prefix", "org_id", "user_id", "name", "status",
	"created_at", "expires_at", "last_used_at", "revoked_at"}

// listedAttrs are the attributes GSI2 projects besides its keys: an event's list entry, and a
// delivery's. A projection cannot change once the index exists, so it names both.
var listedAttrs = []string{"event_id", "org_id", "workflow_id", "event_type", "created_at", "endpoint_count",
	"webhook_id", "status", "attempts", "last_status_code", "last_error", "last_attempt_at", "delivered_at"}

// gsi2Index is GSI2 as CreateTable creates it and an existing table is given it.
func gsi2Index() types.GlobalSecondaryIndex {
	return types.GlobalSecondaryIndex{
		IndexName: aws.String(gsi2),
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrGSI2PK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrGSI2SK), KeyType: types.KeyTypeRange},
		},
		Projection: &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: listedAttrs},
	}
}

func stringAttr(name string) types.AttributeDefinition {
	return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: types.ScalarAttributeTypeS}
}

// CreateTable creates the table with its indexes and TTL if it does not exist, and waits until it
// is active. A table created before GSI2 existed is given it (UpdateTable), and CreateTable waits
// until the index is active: `pcxctl table create` is the migration. It is safe to run at every
// start and from several processes at once.
func (s *Store) CreateTable(ctx context.Context) (created bool, err error) {
	// Whether it existed is asked first: a create whose answer comes late (a loaded machine,
	// DynamoDB Local building two indexes) is retried by the SDK and answered ResourceInUse by
	// its own first attempt's table, which must still count as created here, TTL included.
	_, err = s.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.table})
	var notFound *types.ResourceNotFoundException
	switch {
	case err == nil:
		return false, s.existingTable(ctx)
	case !errors.As(err, &notFound):
		return false, translate(err)
	}
	_, err = s.db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   &s.table,
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			stringAttr(attrPK), stringAttr(attrSK), stringAttr(attrGSI1PK), stringAttr(attrGSI1SK),
			stringAttr(attrGSI2PK), stringAttr(attrGSI2SK),
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(gsi1),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(attrGSI1PK), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(attrGSI1SK), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{
				ProjectionType:   types.ProjectionTypeInclude,
				NonKeyAttributes: keyMetadataAttrs,
			},
		}, gsi2Index()},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return false, translate(err)
	}
	if err := s.waitActive(ctx); err != nil {
		return true, err
	}
	_, err = s.db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: &s.table,
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(attrTTL), Enabled: aws.Bool(true),
		},
	})
	if err != nil && !strings.Contains(err.Error(), "already enabled") {
		return true, translate(err)
	}
	return true, nil
}

// existingTable brings a table that exists up to date: active, with the list index.
func (s *Store) existingTable(ctx context.Context) error {
	if err := s.waitActive(ctx); err != nil {
		return err
	}
	return s.addListIndex(ctx)
}

func (s *Store) waitActive(ctx context.Context) error {
	waiter := dynamodb.NewTableExistsWaiter(s.db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: &s.table}, 2*time.Minute); err != nil {
		return fmt.Errorf("store: table %s did not become active: %w", s.table, err)
	}
	return nil
}

// addListIndex gives a table created before GSI2 existed the index, and waits until it is active.
// Items written before it lack its keys: they are not listed (see ListEvents).
func (s *Store) addListIndex(ctx context.Context) error {
	var updateErr error
	for {
		out, err := s.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.table})
		if err != nil {
			return translate(err)
		}
		status, found := types.IndexStatus(""), false
		for _, ix := range out.Table.GlobalSecondaryIndexes {
			if aws.ToString(ix.IndexName) == gsi2 {
				status, found = ix.IndexStatus, true
			}
		}
		switch {
		case found && status == types.IndexStatusActive:
			return nil
		case !found && updateErr != nil:
			return translate(updateErr)
		case !found:
			ix := gsi2Index()
			_, err := s.db.UpdateTable(ctx, &dynamodb.UpdateTableInput{
				TableName:            &s.table,
				AttributeDefinitions: []types.AttributeDefinition{stringAttr(attrGSI2PK), stringAttr(attrGSI2SK)},
				GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Create: &types.CreateGlobalSecondaryIndexAction{
					IndexName: ix.IndexName, KeySchema: ix.KeySchema, Projection: ix.Projection,
				}}},
			})
			// An error may be another process adding the index at once: the next look says.
			updateErr = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("store: index %s of table %s did not become active: %w", gsi2, s.table, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// DeleteTable removes the table (tests and `pcxctl table delete`).
func (s *Store) DeleteTable(ctx context.Context) error {
	_, err := s.db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: &s.table})
	return translate(err)
}

// timeFormat is fixed-width UTC with milliseconds, so stored times compare correctly as strings
// inside condition expressions.
const timeFormat = "2006-01-02T15:04:05.000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func parseTime(s string) (time.Time, error) { return time.Parse(timeFormat, s) }

// Attribute value helpers keep item code short.
func avS(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func avN(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
func avB(b []byte) types.AttributeValue       { return &types.AttributeValueMemberB{Value: b} }
func avTime(t time.Time) types.AttributeValue { return avS(formatTime(t)) }

// item reads typed attributes out of a DynamoDB item, remembering the first problem so callers
// check once.
type item struct {
	m   map[string]types.AttributeValue
	err error
}

func (it *item) str(name string) string {
	v, ok := it.m[name].(*types.AttributeValueMemberS)
	if !ok {
		return ""
	}
	return v.Value
}

func (it *item) num(name string) int64 {
	v, ok := it.m[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil && it.err == nil {
		it.err = fmt.Errorf("store: attribute %s: %w", name, err)
	}
	return n
}

// strs reads a list of strings; absent is nil.
func (it *item) strs(name string) []string {
	v, ok := it.m[name].(*types.AttributeValueMemberL)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(v.Value))
	for _, e := range v.Value {
		if s, ok := e.(*types.AttributeValueMemberS); ok {
			out = append(out, s.Value)
		}
	}
	return out
}

func avStrs(list []string) types.AttributeValue {
	l := make([]types.AttributeValue, len(list))
	for i, s := range list {
		l[i] = avS(s)
	}
	return &types.AttributeValueMemberL{Value: l}
}

func (it *item) bytes(name string) []byte {
	v, ok := it.m[name].(*types.AttributeValueMemberB)
	if !ok {
		return nil
	}
	return v.Value
}

func (it *item) time(name string) time.Time {
	s := it.str(name)
	if s == "" {
		return time.Time{}
	}
	t, err := parseTime(s)
	if err != nil && it.err == nil {
		it.err = fmt.Errorf("store: attribute %s: %w", name, err)
	}
	return t
}

func (it *item) timePtr(name string) *time.Time {
	if it.str(name) == "" {
		return nil
	}
	t := it.time(name)
	return &t
}
