package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/testenv"
)

// An old pepper can be retired: a key created under pepper 1 authenticates on an api restarted
// with peppers 1 and 2 (2 newest), is re-hashed under 2 in the background, and then works on an
// api that has pepper 2 alone. Cursors are signed with CURSOR_KEYS, not the peppers, so a cursor
// handed out before the change opens after it.
func TestPepperRetirement(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pepper1, pepper2 := e.vars["APIKEY_PEPPERS"], "2:"+testenv.RandomBase64(32)
	e.vars["CURSOR_KEYS"] = "1:" + testenv.RandomBase64(32)
	key := e.bootstrapKey("org-pepper", "u")
	api := e.startAPI()
	for _, name := range []string{"a", "b"} {
		wantStatus(t, call(t, "POST", api.base+"/public/api-keys/create", key, map[string]any{"name": name}), 201)
	}
	var meta pageMeta
	call(t, "GET", api.base+"/public/api-keys?limit=1", key, nil).decode(t, nil, &meta)
	if meta.LastEvaluatedKey == nil {
		t.Fatal("the first page of three keys has no cursor")
	}
	var me struct {
		Prefix string `json:"prefix"`
	}
	call(t, "GET", api.base+"/public/me", key, nil).decode(t, &me, nil)
	api.stop()

	version := func() int {
		t.Helper()
		k, err := e.store.APIKeyByPrefix(context.Background(), me.Prefix)
		if err != nil {
			t.Fatal(err)
		}
		return k.PepperVersion
	}
	if v := version(); v != 1 {
		t.Fatalf("the bootstrap key is under pepper %d, want 1", v)
	}

	e.vars["APIKEY_PEPPERS"] = pepper1 + "," + pepper2
	api = e.startAPI()
	wantStatus(t, call(t, "GET", api.base+"/public/me", key, nil), 200)
	eventually(t, 10*time.Second, "the key re-hashed under pepper 2", func() bool { return version() == 2 })
	wantStatus(t, call(t, "GET", api.base+"/public/me", key, nil), 200)
	wantStatus(t, call(t, "GET", api.base+"/public/api-keys?limit=1&last_evaluated_key="+*meta.LastEvaluatedKey, key, nil), 200)
	api.stop()

	e.vars["APIKEY_PEPPERS"] = pepper2
	api = e.startAPI()
	wantStatus(t, call(t, "GET", api.base+"/public/me", key, nil), 200)
	wantStatus(t, call(t, "GET", api.base+"/public/api-keys?limit=1&last_evaluated_key="+*meta.LastEvaluatedKey, key, nil), 200)
}
