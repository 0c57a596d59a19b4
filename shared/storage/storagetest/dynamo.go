package storagetest

import (
	"testing"

	"github.com/wacrm/wacrm/shared/table"
)

// Dynamo is replaced once the DynamoDB adapter lands.
func Dynamo(t *testing.T) table.Table {
	t.Skip("dynamo adapter not wired yet")
	return nil
}
