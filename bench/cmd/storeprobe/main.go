// Command storeprobe measures what DynamoDB Local spends, in CPU time of its own process, per
// delivery record of different shapes — the question behind the delivery throughput of make
// bench, where DynamoDB Local is the busiest process at 100 endpoints per event:
//
//	go run ./bench/cmd/storeprobe
//
// It writes 8,000 records per round in BatchWriteItem requests of 25 (8 at a time), as the worker
// does, in the shape the store writes today (A, with the one-entry attempt log), without the log
// (B), a minimal item (C), and finally 100 deliveries in one item (D, a record per batch). The
// first rounds warm the JVM up; compare the later ones.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pcx/publicservice/internal/testenv"
)

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func cpu(pid int) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	f := strings.Fields(string(b)[strings.LastIndex(string(b), ")")+2:])
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100
}

func main() {
	d, err := testenv.StartDynamoDB("")
	if err != nil {
		panic(err)
	}
	defer d.Proc.Stop()
	port := d.Endpoint[strings.LastIndex(d.Endpoint, ":")+1:]
	out, _ := exec.Command("pgrep", "-f", "DynamoDBLocal.jar.*-port "+port).Output()
	pid, _ := strconv.Atoi(strings.Fields(string(out))[0])
	db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(d.Endpoint), Credentials: credentials.NewStaticCredentialsProvider("x", "y", "")})
	ctx := context.Background()
	for i := 0; ; i++ {
		_, err = db.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String("exp"), BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("PK"), AttributeType: types.ScalarAttributeTypeS}, {AttributeName: aws.String("SK"), AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("PK"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("SK"), KeyType: types.KeyTypeRange}}})
		if err == nil || i > 50 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		panic(err)
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	shapes := map[string]func(ev, i int) map[string]types.AttributeValue{
		"A current (with log)": func(ev, i int) map[string]types.AttributeValue {
			return map[string]types.AttributeValue{"PK": s(fmt.Sprintf("EVT#evt_01m8etj6dafbdjrbtk7nq%05d", ev)), "SK": s(fmt.Sprintf("DLV#wh_01m8etj6dafbdjrbtk7n%06d", i)),
				"webhook_id": s(fmt.Sprintf("wh_01m8etj6dafbdjrbtk7n%06d", i)), "endpoint_url": s("https://127.0.0.1:43123/t100/" + strconv.Itoa(i)), "status": s("delivered"),
				"ttl": n(time.Now().Unix()), "attempts": n(1), "last_status_code": n(200), "last_attempt_at": s(now), "delivered_at": s(now),
				"log": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"at": s(now), "code": n(200), "ms": n(3)}}}}}
		},
		"B no log": func(ev, i int) map[string]types.AttributeValue {
			return map[string]types.AttributeValue{"PK": s(fmt.Sprintf("EVT#evt_01m8etj6dafbdjrbtk7nq%05d", ev)), "SK": s(fmt.Sprintf("DLV#wh_01m8etj6dafbdjrbtk7n%06d", i)),
				"webhook_id": s(fmt.Sprintf("wh_01m8etj6dafbdjrbtk7n%06d", i)), "endpoint_url": s("https://127.0.0.1:43123/t100/" + strconv.Itoa(i)), "status": s("delivered"),
				"ttl": n(time.Now().Unix()), "attempts": n(1), "last_status_code": n(200), "last_attempt_at": s(now), "delivered_at": s(now), "ms": n(3)}
		},
		"C minimal": func(ev, i int) map[string]types.AttributeValue {
			return map[string]types.AttributeValue{"PK": s(fmt.Sprintf("EVT#evt_01m8etj6dafbdjrbtk7nq%05d", ev)), "SK": s(fmt.Sprintf("DLV#wh_01m8etj6dafbdjrbtk7n%06d", i)), "st": n(200)}
		},
	}
	const events, per = 80, 100
	for _, name := range []string{"C minimal", "A current (with log)", "B no log", "C minimal", "A current (with log)", "B no log", "C minimal", "A current (with log)", "B no log", "C minimal"} {
		mk := shapes[name]
		c0, t0 := cpu(pid), time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		base := int(time.Now().UnixNano() % 1000)
		for ev := 0; ev < events; ev++ {
			for b := 0; b < per; b += 25 {
				wg.Add(1)
				sem <- struct{}{}
				go func(ev, b int) {
					defer wg.Done()
					defer func() { <-sem }()
					var reqs []types.WriteRequest
					for i := b; i < b+25; i++ {
						reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: mk(ev+base*100, i)}})
					}
					if _, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{"exp": reqs}}); err != nil {
						panic(err)
					}
				}(ev, b)
			}
		}
		wg.Wait()
		items := events * per
		fmt.Printf("%-22s %d items: %.2fs wall, %.2fs DynamoDB Local CPU = %.0f µs CPU per item\n", name, items, time.Since(t0).Seconds(), cpu(pid)-c0, (cpu(pid)-c0)/float64(items)*1e6)
	}
	// D: one item per 100 deliveries (a map of 100 small entries).
	c0, t0 := cpu(pid), time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for ev := 0; ev < events; ev++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(ev int) {
			defer wg.Done()
			defer func() { <-sem }()
			m := map[string]types.AttributeValue{}
			for i := 0; i < per; i++ {
				m[fmt.Sprintf("wh_01m8etj6dafbdjrbtk7n%06d", i)] = &types.AttributeValueMemberL{Value: []types.AttributeValue{n(200), n(3)}}
			}
			if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("exp"), Item: map[string]types.AttributeValue{"PK": s(fmt.Sprintf("EVT#d%05d", ev)), "SK": s("BATCH#0"), "at": s(now), "d": &types.AttributeValueMemberM{Value: m}}}); err != nil {
				panic(err)
			}
		}(ev)
	}
	wg.Wait()
	fmt.Printf("%-22s %d deliveries in %d items: %.2fs wall, %.2fs CPU = %.0f µs CPU per delivery\n", "D one item per batch", events*per, events, time.Since(t0).Seconds(), cpu(pid)-c0, (cpu(pid)-c0)/float64(events*per)*1e6)
}
