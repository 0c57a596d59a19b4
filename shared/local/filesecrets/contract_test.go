package filesecrets

import (
	"testing"

	"github.com/wacrm/wacrm/shared/secrets/secretstest"
)

func TestContract(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	secretstest.Run(t, s)
}
