package storagetest

import (
	"testing"

	"github.com/wacrm/wacrm/shared/aws/dynamo/dynamotest"
	"github.com/wacrm/wacrm/shared/table"
)

// Dynamo creates a fresh table in DynamoDB Local (skipped without it,
// failing when WACRM_REQUIRE_SERVERS=1).
func Dynamo(t *testing.T) table.Table {
	t.Helper()
	return dynamotest.NewTable(t)
}
