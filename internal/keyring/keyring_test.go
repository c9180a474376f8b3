package keyring

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	k32 := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("a", 32)))
	k16 := base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("b", 16)))
	tests := []struct {
		name, in    string
		min, exact  int
		wantCurrent int
		wantErr     string
	}{
		{"one", "1:" + k32, 32, 0, 1, ""},
		{"newest wins, spaces", " 2:" + k32 + " , 7:" + k32 + ",3:" + k32, 32, 32, 7, ""},
		{"url-safe raw", "1:" + k16, 16, 0, 1, ""},
		{"empty", "", 32, 0, 0, "no key given"},
		{"no colon", k32, 32, 0, 0, "want version:base64key"},
		{"zero version", "0:" + k32, 32, 0, 0, "positive integer"},
		{"duplicate", "1:" + k32 + ",1:" + k32, 32, 0, 0, "appears twice"},
		{"not base64", "1:***", 1, 0, 0, "not base64"},
		{"too short", "1:" + k16, 32, 0, 0, "at least 32 bytes, got 16"},
		{"not exact", "1:" + k32, 16, 16, 0, "exactly 16 bytes, got 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse(tt.in, tt.min, tt.exact)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse error = %v, want it to mention %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), k32) {
					t.Fatalf("error %q leaks key material", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if v, _ := r.Current(); v != tt.wantCurrent {
				t.Fatalf("Current version = %d, want %d", v, tt.wantCurrent)
			}
		})
	}
}
