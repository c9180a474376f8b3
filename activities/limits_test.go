package activities

import (
	"testing"

	"github.com/pcx/publicservice/internal/config"
)

// The sends of an attempt leave recordReserve (a round of record writes, store.CallTimeout, and
// the return) before its deadline; that must fit in the store's share of the attempt the
// configuration reckons with (config.StoreMargin), or a WEBHOOK_TIMEOUT the configuration accepts
// would have its sends cut short.
func TestRecordReserveFitsTheStoreMargin(t *testing.T) {
	if recordReserve > config.StoreMargin {
		t.Fatalf("recordReserve %s is over config.StoreMargin %s", recordReserve, config.StoreMargin)
	}
}
