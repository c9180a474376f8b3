package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/rs/zerolog"

	"github.com/pcx/publicservice/internal/signing"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/service/webhooks"
	"github.com/pcx/publicservice/store"
)

// typedWebhooks is an organisation with one endpoint and events of several types (contract §8).
// It checks the fields as the service does, with the same pcx checks, so a request it refuses is
// one the service refuses.
type typedWebhooks struct{ noWebhookService }

var typedNow = time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)

func typedHook(types []string, format pcx.PayloadFormat) *pcx.Webhook {
	return &pcx.Webhook{
		ID: pcx.NewID("wh", typedNow), OrgID: "org-1", URL: "https://hooks.example.com/pcx", Status: pcx.WebhookActive,
		EventTypes: types, PayloadFormat: format, CreatedAt: typedNow, UpdatedAt: typedNow,
		Secrets: []pcx.WebhookSecret{{Key: signing.NewSecret()}},
	}
}

func (typedWebhooks) CreateEndpoint(_ context.Context, _ string, in webhooks.NewEndpoint) (*pcx.Webhook, error) {
	problems := map[string]string{}
	if msg := pcx.CheckSubscription(in.EventTypes); msg != "" {
		problems["event_types"] = msg
	}
	if in.PayloadFormat != "" {
		if msg := pcx.CheckPayloadFormat(in.PayloadFormat); msg != "" {
			problems["payload_format"] = msg
		}
	}
	if len(problems) > 0 {
		return nil, pcx.Invalid("Invalid request body", problems)
	}
	return typedHook(in.EventTypes, pcx.PayloadFormat(in.PayloadFormat)), nil
}

func (typedWebhooks) Endpoint(context.Context, string, string) (*pcx.Webhook, error) {
	return typedHook([]string{"transaction.*", "pcx.test"}, pcx.PayloadStandard), nil
}

func (typedWebhooks) ListEndpoints(context.Context, string, int, string) ([]*pcx.Webhook, string, error) {
	// One stored before subscriptions existed: no event_types, no payload_format.
	return []*pcx.Webhook{typedHook(nil, ""), typedHook([]string{"refund.created"}, pcx.PayloadRaw)}, "", nil
}

func (typedWebhooks) UpdateEndpoint(_ context.Context, _, _ string, p webhooks.Patch) (*pcx.Webhook, error) {
	w := typedHook([]string{"transaction.*"}, pcx.PayloadRaw)
	if p.EventTypes != nil {
		if msg := pcx.CheckSubscription(*p.EventTypes); msg != "" {
			return nil, pcx.Invalid("Invalid request body", map[string]string{"event_types": msg})
		}
		w.EventTypes = *p.EventTypes
	}
	if p.PayloadFormat != nil {
		if msg := pcx.CheckPayloadFormat(*p.PayloadFormat); msg != "" {
			return nil, pcx.Invalid("Invalid request body", map[string]string{"payload_format": msg})
		}
		w.PayloadFormat = pcx.PayloadFormat(*p.PayloadFormat)
	}
	return w, nil
}

func (typedWebhooks) RotateSecret(context.Context, string, string, *time.Duration) (*pcx.Webhook, error) {
	return typedHook([]string{"pcx.*"}, pcx.PayloadStandard), nil
}

func (typedWebhooks) Notify(_ context.Context, in webhooks.NotifyInput) (webhooks.Accepted, error) {
	if msg := pcx.CheckEventType(in.EventType); msg != "" {
		return webhooks.Accepted{}, pcx.Invalid("Invalid request body", map[string]string{"event_type": msg})
	}
	id := pcx.NewID("evt", typedNow)
	return webhooks.Accepted{EventID: id, WorkflowID: "webhook-event-" + id, RunID: "run-1", EndpointCount: 1}, nil
}

func (typedWebhooks) EventStatus(_ context.Context, org, id string, _ int, _ string) (webhooks.EventStatus, error) {
	ev := &pcx.Event{ID: id, OrgID: org, WorkflowID: "webhook-event-" + id, Source: pcx.SourceNotify, CreatedAt: typedNow, Payload: []byte(typedPayload)}
	switch {
	case strings.HasSuffix(id, "0"): // stored before event types: no type
	case strings.HasSuffix(id, "1"):
		ev.Source, ev.Type = pcx.SourceService, pcx.EventTest
	default:
		ev.Type = "refund.created"
	}
	at := typedNow.Add(time.Second)
	d := &pcx.Delivery{WebhookID: pcx.NewID("wh", typedNow), EndpointURL: "https://hooks.example.com/pcx", Status: pcx.DeliveryPending, Attempts: 2,
		LastStatusCode: 500, LastError: "http_status", LastAttemptAt: &at, Log: []pcx.Attempt{
			{At: typedNow, StatusCode: 500, ErrorClass: "http_status", ResponseBody: strings.Repeat("x", pcx.MaxResponseBody), ResponseTruncated: true},
			{At: at, ErrorClass: "timeout"},
		}}
	return webhooks.EventStatus{Event: ev, Deliveries: []*pcx.Delivery{d}}, nil
}

func (typedWebhooks) ListEvents(_ context.Context, org string, _ store.EventFilter, _ int, _ string) ([]*pcx.Event, string, error) {
	old := &pcx.Event{ID: pcx.NewID("evt", typedNow), OrgID: org, WorkflowID: "webhook-event-x", CreatedAt: typedNow}
	typed := &pcx.Event{ID: pcx.NewID("evt", typedNow), OrgID: org, WorkflowID: "webhook-event-y", Type: pcx.EventTest, CreatedAt: typedNow, EndpointCount: 2}
	return []*pcx.Event{typed, old}, old.ID, nil
}

func (typedWebhooks) EndpointDeliveries(_ context.Context, _, _ string, _ store.DeliveryFilter, _ int, _ string) ([]*pcx.Delivery, string, error) {
	at := typedNow.Add(time.Second)
	id := pcx.NewID("evt", typedNow)
	return []*pcx.Delivery{
		{EventID: id, EventType: "refund.created", EventCreatedAt: typedNow, Status: pcx.DeliveryDelivered, Attempts: 1, LastStatusCode: 200, LastAttemptAt: &at, DeliveredAt: &at},
		{EventID: pcx.NewID("evt", typedNow), EventType: pcx.EventTest, EventCreatedAt: typedNow, Status: pcx.DeliveryCancelled, LastError: pcx.CancelledEndpointDisabled},
	}, id, nil
}

// typedPayload is a payload as a caller may send it: spaced, with characters json.Marshal escapes.
const typedPayload = "{ \"note\" : \"<b>&</b>\",\n\t\"n\": 1e3 }"

// specRouter returns a router over the whole document (both listeners), for any host.
func specRouter(t *testing.T) routers.Router {
	t.Helper()
	doc := loadOpenAPI(t)
	doc.Servers = nil
	for _, item := range doc.Paths.Map() {
		item.Servers = nil
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return router
}

// checkExchange validates a response against the document, and the request too: a request the
// handler took (2xx) must be one the document allows, and one it refused with 400 one the
// document refuses, so the document's constraints are the code's.
func checkExchange(t *testing.T, router routers.Router, req *http.Request, body string, w *httptest.ResponseRecorder) {
	t.Helper()
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s: no operation in openapi.yaml: %v", req.Method, req.URL, err)
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, SkipSettingDefaults: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	reqIn := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	respIn := &openapi3filter.ResponseValidationInput{RequestValidationInput: reqIn, Status: w.Code, Header: w.Header(), Options: opts}
	respIn.SetBodyBytes(w.Body.Bytes())
	if err := openapi3filter.ValidateResponse(context.Background(), respIn); err != nil {
		t.Errorf("%s %s %s → %d %s: the response does not match openapi.yaml: %v", req.Method, req.URL, body, w.Code, w.Body, err)
	}
	req.Body = http.NoBody
	if body != "" {
		req.Body = io.NopCloser(strings.NewReader(body))
	}
	reqErr := openapi3filter.ValidateRequest(context.Background(), reqIn)
	switch {
	case w.Code < 300 && reqErr != nil:
		t.Errorf("%s %s %s was accepted (%d) but openapi.yaml does not allow it: %v", req.Method, req.URL, body, w.Code, reqErr)
	case w.Code == http.StatusBadRequest && reqErr == nil:
		t.Errorf("%s %s %s was refused (400 %s) but openapi.yaml allows it", req.Method, req.URL, body, w.Body)
	}
}

// The event type fields of contract §8, in requests and replies, are what openapi.yaml says: the
// constraints on event_type, event_types and payload_format refuse exactly what the code
// refuses, and every reply carrying them matches its schema.
func TestOpenAPIEventTypes(t *testing.T) {
	router := specRouter(t)
	public := NewServer(Deps{Log: zerolog.Nop(), Auth: &fakeAuth{}, Keys: &fakeKeys{}, Webhooks: typedWebhooks{},
		Cursors: newFixture().curs, RequestTimeout: time.Second})
	const token = "tttttttttttttttttttttttttttttttt"
	internal := NewInternalServer(InternalDeps{Log: zerolog.Nop(), Token: token, Webhooks: typedWebhooks{}, RequestTimeout: time.Second})
	hook := "/public/webhooks/" + pcx.NewID("wh", typedNow)
	evt := pcx.NewID("evt", typedNow)
	evt = evt[:len(evt)-1]
	fifty := make([]string, pcx.MaxEventTypes+1)
	for i := range fifty {
		fifty[i] = fmt.Sprintf(`"t%d.x"`, i)
	}
	notify := func(eventType string) string {
		return `{"org_id":"org-1",` + eventType + `"transaction_data":{"id":"tx_1"}}`
	}
	for _, tt := range []struct {
		internal     bool
		method, path string
		body         string
		status       int
	}{
		{false, "POST", "/public/webhooks", `{"endpoint_url":"https://hooks.example.com/pcx"}`, 201},
		{false, "POST", "/public/webhooks", `{"endpoint_url":"https://hooks.example.com/pcx","event_types":["transaction.*","pcx.test"],"payload_format":"standard"}`, 201},
		{false, "POST", "/public/webhooks", `{"endpoint_url":"https://hooks.example.com/pcx","event_types":[],"payload_format":"raw"}`, 201},
		{false, "POST", "/public/webhooks", `{"endpoint_url":"https://hooks.example.com/pcx","event_types":null}`, 201},
		{false, "POST", "/public/webhooks", `{"endpoint_url":"https://hooks.example.com/pcx","event_types":["pcx.*","a.b.*","refund.created_v2"]}`, 201},
		{false, "POST", "/public/webhooks", `{"endpoint_url":"https://hooks.example.com/pcx","event_types":[` + strings.Join(fifty[:50], ",") + `]}`, 201},
		{false, "POST", "/public/webhooks", `{"endpoint_url":"https://hooks.example.com/pcx","event_types":[` + strings.Join(fifty, ",") + `]}`, 400},
		{false, "POST", "/public/webhooks", `{"endpoint_url":"https://hooks.example.com/pcx","event_types":["a.b","a.b"]}`, 400},
		{false, "POST", "/public/webhooks", `{"endpoint_url":"https://hooks.example.com/pcx","event_types":["*"]}`, 400},
		{false, "POST", "/public/webhooks", `{"endpoint_url":"https://hooks.example.com/pcx","event_types":["transaction"]}`, 400},
		{false, "POST", "/public/webhooks", `{"endpoint_url":"https://hooks.example.com/pcx","event_types":["a.*.b"]}`, 400},
		{false, "POST", "/public/webhooks", `{"endpoint_url":"https://hooks.example.com/pcx","event_types":["Transaction.*"]}`, 400},
		{false, "POST", "/public/webhooks", `{"endpoint_url":"https://hooks.example.com/pcx","event_types":["` + strings.Repeat("a", 99) + `.*"]}`, 400},
		{false, "POST", "/public/webhooks", `{"endpoint_url":"https://hooks.example.com/pcx","payload_format":"json"}`, 400},
		{false, "GET", hook, "", 200},
		{false, "GET", "/public/webhooks", "", 200},
		{false, "PATCH", hook, `{"event_types":["refund.*"],"payload_format":"standard"}`, 200},
		{false, "PATCH", hook, `{"event_types":[]}`, 200},
		{false, "PATCH", hook, `{"event_types":null}`, 200},
		{false, "PATCH", hook, `{"payload_format":"raw"}`, 200},
		{false, "PATCH", hook, `{"payload_format":"xml"}`, 400},
		{false, "PATCH", hook, `{"event_types":["refund"]}`, 400},
		{false, "POST", hook + "/rotate-secret", "", 200},
		{false, "POST", "/public/webhooks/notify", notify(""), 202},
		{false, "POST", "/public/webhooks/notify", notify(`"event_type":"refund.created",`), 202},
		{false, "POST", "/public/webhooks/notify", notify(`"event_type":"transaction.refund.created_v2",`), 202},
		{false, "POST", "/public/webhooks/notify", notify(`"event_type":null,`), 202},
		{false, "POST", "/public/webhooks/notify", notify(`"event_type":"",`), 400},
		{false, "POST", "/public/webhooks/notify", notify(`"event_type":"pcx.test",`), 400},
		{false, "POST", "/public/webhooks/notify", notify(`"event_type":"pcx.custom",`), 400},
		{false, "POST", "/public/webhooks/notify", notify(`"event_type":"transaction",`), 400},
		{false, "POST", "/public/webhooks/notify", notify(`"event_type":"transaction.*",`), 400},
		{false, "POST", "/public/webhooks/notify", notify(`"event_type":"Transaction.updated",`), 400},
		{false, "POST", "/public/webhooks/notify", notify(`"event_type":"a.` + strings.Repeat("b", 99) + `",`), 400},
		{false, "GET", "/public/webhooks/events", "", 200},
		{false, "GET", "/public/webhooks/events?limit=2&event_type=refund.created&since=2030-01-02T00:00:00Z&until=2030-01-03T00:00:00.5%2B01:00", "", 200},
		{false, "GET", "/public/webhooks/events?since=yesterday", "", 400},
		{false, "GET", "/public/webhooks/events?until=2030-01-02", "", 400},
		{false, "GET", "/public/webhooks/events?limit=0", "", 400},
		{false, "GET", hook + "/deliveries", "", 200},
		{false, "GET", hook + "/deliveries?status=failed&since=2030-01-02T00:00:00Z&until=2030-01-03T00:00:00Z&limit=5", "", 200},
		{false, "GET", hook + "/deliveries?since=now", "", 400},
		{false, "GET", "/public/webhooks/events/" + evt + "0", "", 200},
		{false, "GET", "/public/webhooks/events/" + evt + "1", "", 200},
		{false, "GET", "/public/webhooks/events/" + evt + "2", "", 200},
		{true, "POST", "/internal/transaction-updates", notify(`"event_type":"transaction.settled",`), 202},
		{true, "POST", "/internal/transaction-updates", notify(`"event_type":"pcx.endpoint.disabled",`), 400},
	} {
		req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
		h := public
		if tt.internal {
			h = internal
			req.Header.Set("Authorization", "Bearer "+token)
		} else {
			req.Header.Set("X-API-Key", goodKey)
		}
		if tt.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != tt.status {
			t.Errorf("%s %s %s: %d %s, want %d", tt.method, tt.path, tt.body, w.Code, w.Body, tt.status)
			continue
		}
		checkExchange(t, router, req, tt.body, w)
		if tt.status == http.StatusBadRequest {
			var env struct{ Errors map[string]string }
			_ = json.Unmarshal(w.Body.Bytes(), &env)
			if len(env.Errors) != 1 {
				t.Errorf("%s %s %s: 400 %s, want the one field named", tt.method, tt.path, tt.body, w.Body)
			}
		}
	}
}

// The delivery webhook describes PCX-Event-Type and both bodies.
func TestOpenAPIDeliveryDescribesEventTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	op := doc.Webhooks["transaction-event"].Post
	var eventType *openapi3.Parameter
	for _, p := range op.Parameters {
		if p.Value.In == "header" && p.Value.Name == "PCX-Event-Type" {
			eventType = p.Value
		}
	}
	if eventType == nil || !eventType.Required {
		t.Fatal("the delivery does not describe the required header PCX-Event-Type")
	}
	body := op.RequestBody.Value.Content.Get("application/json").Schema.Value
	if len(body.AnyOf) != 2 {
		t.Fatalf("the delivery body is %v, want anyOf the raw payload and the Standard Webhooks envelope", body)
	}
	env := doc.Components.Schemas["StandardEnvelope"].Value
	for _, f := range []string{"type", "timestamp", "data"} {
		if env.Properties[f] == nil {
			t.Errorf("StandardEnvelope lacks %s", f)
		}
	}
}

// The event status shows transaction_data as it was received, byte for byte: json.Marshal would
// have compacted it and escaped its <, > and &.
func TestEventStatusShowsThePayloadAsReceived(t *testing.T) {
	public := NewServer(Deps{Log: zerolog.Nop(), Auth: &fakeAuth{}, Keys: &fakeKeys{}, Webhooks: typedWebhooks{},
		Cursors: newFixture().curs, RequestTimeout: time.Second})
	req := httptest.NewRequest("GET", "/public/webhooks/events/"+pcx.NewID("evt", typedNow), nil)
	req.Header.Set("X-API-Key", goodKey)
	w := httptest.NewRecorder()
	public.ServeHTTP(w, req)
	if want := `,"transaction_data":` + typedPayload + `},"meta":`; w.Code != http.StatusOK || !strings.Contains(w.Body.String(), want) {
		t.Fatalf("event status %d %s; want it to contain %s", w.Code, w.Body, want)
	}
	var env struct{ Data map[string]any }
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env.Data["transaction_data"] == nil {
		t.Fatalf("event status is not JSON with transaction_data: %v %s", err, w.Body)
	}
}

// listingWebhooks records the filter and page the event list asks the use case for.
type listingWebhooks struct {
	noWebhookService
	got *store.EventFilter
}

func (l listingWebhooks) ListEvents(_ context.Context, _ string, f store.EventFilter, _ int, _ string) ([]*pcx.Event, string, error) {
	*l.got = f
	return nil, "", nil
}

// The event list hands the use case the exact type and the window as given.
func TestEventListReadsItsFilters(t *testing.T) {
	var got store.EventFilter
	public := NewServer(Deps{Log: zerolog.Nop(), Auth: &fakeAuth{}, Keys: &fakeKeys{}, Webhooks: listingWebhooks{got: &got},
		Cursors: newFixture().curs, RequestTimeout: time.Second})
	req := httptest.NewRequest("GET", "/public/webhooks/events?event_type=refund.created&since=2030-01-02T03:04:05.5Z&until=2030-01-02T05:04:05%2B01:00", nil)
	req.Header.Set("X-API-Key", goodKey)
	w := httptest.NewRecorder()
	public.ServeHTTP(w, req)
	since, until := time.Date(2030, 1, 2, 3, 4, 5, 5e8, time.UTC), time.Date(2030, 1, 2, 4, 4, 5, 0, time.UTC)
	if w.Code != http.StatusOK || got.Type != "refund.created" || !got.Since.Equal(since) || !got.Until.Equal(until) {
		t.Fatalf("event list %d %s asked for %+v; want type refund.created from %v to %v", w.Code, w.Body, got, since, until)
	}
}
