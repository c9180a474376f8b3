package starter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.temporal.io/api/serviceerror"

	"github.com/pcx/publicservice/pcx"
)

func TestTranslate(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want pcx.Code
	}{
		{serviceerror.NewUnavailable("connection refused 10.0.0.1:7233"), pcx.EUnavailable},
		{serviceerror.NewResourceExhausted(0, "rps"), pcx.EUnavailable},
		{serviceerror.NewDeadlineExceeded("slow"), pcx.EUnavailable},
		{fmt.Errorf("dial: %w", context.DeadlineExceeded), pcx.EUnavailable},
		{serviceerror.NewNotFound("namespace default not found"), pcx.EInternal},
		{serviceerror.NewInvalidArgument("search attribute PcxOrgId not registered"), pcx.EInternal},
		{errors.New("something else"), pcx.EInternal},
	} {
		got := Translate(tc.err)
		if pcx.ErrorCode(got) != tc.want {
			t.Errorf("Translate(%v) = %v, want code %s", tc.err, got, tc.want)
		}
		if msg := pcx.ErrorMessage(got); msg == tc.err.Error() || containsAny(msg, "10.0.0.1", "rps", "PcxOrgId", "namespace") {
			t.Errorf("Translate(%v) exposes the cause in %q", tc.err, msg)
		}
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
