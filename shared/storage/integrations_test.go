package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
)

func newIntegration(t *testing.T, s *storage.Store, org, id, pnid string) *integration.Integration {
	t.Helper()
	in := &integration.Integration{ID: id, Org: org, Nickname: "Nick " + id, PhoneNumberID: pnid, WABAID: "900",
		TokenRef: "tokens/" + id, Active: true, CreatedAt: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}
	if err := s.CreateIntegration(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	return in
}

// routedTo returns the id of the integration a webhook for pnid reaches, or
// "" when none claims the number.
func routedTo(t *testing.T, s *storage.Store, pnid string) string {
	t.Helper()
	in, err := s.IntegrationByPhoneNumber(context.Background(), pnid)
	if apperr.Is(err, apperr.NotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return in.Org + "/" + in.ID
}

func TestIntegrationActivation(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		const pnid = "1065403522"
		newIntegration(t, s, "acme", "int-a", pnid)

		if err := s.CreateIntegration(ctx, &integration.Integration{ID: "int-b", Org: "other", PhoneNumberID: pnid}); !apperr.Is(err, apperr.Conflict) {
			t.Fatalf("claiming an active number from another org: %v, want conflict", err)
		}
		if _, err := s.SetIntegrationActive(ctx, "other", "int-a", false); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("another org deactivating: %v, want not found", err)
		}

		for i := range 2 { // the second time changes nothing
			in, err := s.SetIntegrationActive(ctx, "acme", "int-a", false)
			if err != nil {
				t.Fatalf("deactivate #%d: %v", i+1, err)
			}
			if in.Active || in.TokenRef != "tokens/int-a" || in.PhoneNumberID != pnid {
				t.Errorf("deactivate #%d: got %+v", i+1, in)
			}
			if got := routedTo(t, s, pnid); got != "" {
				t.Errorf("deactivated number still routes to %s", got)
			}
		}
		got, err := s.Integration(ctx, "acme", "int-a")
		if err != nil || got.Active {
			t.Fatalf("stored after deactivation: %+v, %v", got, err)
		}

		for i := range 2 {
			in, err := s.SetIntegrationActive(ctx, "acme", "int-a", true)
			if err != nil || !in.Active {
				t.Fatalf("activate #%d: %+v, %v", i+1, in, err)
			}
			if got := routedTo(t, s, pnid); got != "acme/int-a" {
				t.Errorf("re-activated number routes to %q, want acme/int-a", got)
			}
		}

		// Released numbers can be claimed by another org; the first owner
		// then cannot re-activate.
		if _, err := s.SetIntegrationActive(ctx, "acme", "int-a", false); err != nil {
			t.Fatal(err)
		}
		newIntegration(t, s, "other", "int-b", pnid)
		if got := routedTo(t, s, pnid); got != "other/int-b" {
			t.Errorf("number routes to %q, want other/int-b", got)
		}
		if _, err := s.SetIntegrationActive(ctx, "acme", "int-a", true); !apperr.Is(err, apperr.Conflict) {
			t.Errorf("re-activating a number claimed since: %v, want conflict", err)
		}
		if got, _ := s.Integration(ctx, "acme", "int-a"); got.Active {
			t.Errorf("a refused re-activation left the integration active")
		}
		// Deactivating the old one again must not release the new owner's claim.
		if _, err := s.SetIntegrationActive(ctx, "acme", "int-a", false); err != nil {
			t.Fatal(err)
		}
		if got := routedTo(t, s, pnid); got != "other/int-b" {
			t.Errorf("after deactivating the old profile the number routes to %q, want other/int-b", got)
		}
	})
}

// TestIntegrationLegacyInactive: an integration made inactive through
// UpdateIntegration keeps its claim; SetIntegrationActive(false) releases it.
func TestIntegrationLegacyInactive(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		newIntegration(t, s, "acme", "int-a", "555")
		if _, err := s.UpdateIntegration(ctx, "acme", "int-a", func(in *integration.Integration) error { in.Active = false; return nil }); err != nil {
			t.Fatal(err)
		}
		if got := routedTo(t, s, "555"); got != "acme/int-a" {
			t.Fatalf("routes to %q, want acme/int-a (claim kept)", got)
		}
		if _, err := s.SetIntegrationActive(ctx, "acme", "int-a", false); err != nil {
			t.Fatal(err)
		}
		if got := routedTo(t, s, "555"); got != "" {
			t.Errorf("routes to %q after SetIntegrationActive(false), want nothing", got)
		}
	})
}
