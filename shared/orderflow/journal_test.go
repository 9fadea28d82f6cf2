package orderflow_test

import (
	"testing"

	"storefront.dev/shared/orderflow"
	"storefront.dev/shared/orderflow/journaltest"
)

func TestMemJournalContract(t *testing.T) {
	journaltest.Run(t, func(*testing.T) orderflow.Journal { return orderflow.NewMemJournalForTest() })
}
