package integration_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/local/filesecrets"
	"github.com/wacrm/wacrm/shared/metasim"
	"github.com/wacrm/wacrm/shared/secrets"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

var (
	admin = auth.Principal{Org: "acme", UserID: "u-admin", Groups: []string{auth.AdminGroup}}
	now   = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
)

// flakySecrets fails every Put while down.
type flakySecrets struct {
	secrets.Store
	mu   sync.Mutex
	down bool
	puts []string
}

func (f *flakySecrets) Put(ctx context.Context, name, value string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts = append(f.puts, name)
	if f.down {
		return errors.New("secrets store unavailable")
	}
	return f.Store.Put(ctx, name, value)
}

func newService(t *testing.T, s *storage.Store) (*integration.Service, *flakySecrets) {
	t.Helper()
	files, err := filesecrets.New(filepath.Join(t.TempDir(), "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	vault := &flakySecrets{Store: files}
	waba := metasim.WABA{ID: "42", Name: "Acme"}
	for _, pnid := range []string{"111", "777", "123"} {
		waba.Numbers = append(waba.Numbers, metasim.Number{PhoneNumberID: pnid, DisplayPhoneNumber: "1555000" + pnid, AccessTokens: []string{"EAAG-" + pnid}})
	}
	sim := metasim.New(metasim.Config{WABAs: []metasim.WABA{waba}, Statuses: []string{}})
	t.Cleanup(sim.Close)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	graph := &whatsapp.GraphClient{BaseURL: srv.URL + "/v23.0", HTTP: srv.Client()}
	for _, p := range []auth.Principal{admin, {Org: "other", UserID: "u-eve", Groups: []string{auth.AdminGroup}}} {
		if err := s.UpsertUser(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	return &integration.Service{Store: s, Users: s, Secrets: vault, Graph: graph, Now: func() time.Time { return now }}, vault
}

func newReq(pnid string, user string) integration.New {
	return integration.New{Nickname: "Sales", PhoneNumberID: pnid, WABAID: "42", AccessToken: "EAAG-" + pnid,
		Preferences: integration.Preferences{Assign: integration.Assignment{Kind: integration.AssignUser, IDs: []string{user}}}}
}

// TestCreateLeavesNothingHalfMade: when the token cannot be kept no
// integration exists, and the number stays free.
func TestCreateLeavesNothingHalfMade(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		svc, vault := newService(t, s)
		vault.down = true
		if _, err := svc.Create(ctx, admin, newReq("111", "u-admin")); err == nil {
			t.Fatal("create succeeded without its token")
		}
		if list, _ := s.Integrations(ctx, "acme"); len(list) != 0 {
			t.Errorf("%d integrations after a failed create", len(list))
		}
		if _, err := s.IntegrationByPhoneNumber(ctx, "111"); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("the number is claimed after a failed create: %v", err)
		}
		vault.down = false
		in, err := svc.Create(ctx, admin, newReq("111", "u-admin"))
		if err != nil {
			t.Fatal(err)
		}
		if tok, err := svc.AccessToken(ctx, in); err != nil || tok != "EAAG-111" {
			t.Errorf("token %q, %v", tok, err)
		}
		if in.Preferences.UnknownSenders != "Leads" || !in.Active || in.CreatedBy != "u-admin" || !in.CreatedAt.Equal(now) {
			t.Errorf("created %+v", in)
		}
		// A claimed number is refused before any token is written.
		vault.puts = nil
		_, err = svc.Create(ctx, auth.Principal{Org: "other", UserID: "u-eve", Groups: []string{auth.AdminGroup}}, newReq("111", "u-eve"))
		if !apperr.Is(err, apperr.Conflict) || len(vault.puts) != 0 {
			t.Errorf("claimed number: %v with %d secret writes; want conflict and none", err, len(vault.puts))
		}
	})
}

// TestCreateRace: admins of many orgs connect one number at once; exactly
// one wins, the others get a conflict.
func TestCreateRace(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		svc, _ := newService(t, s)
		const orgs = 8
		results := make([]error, orgs)
		var wg sync.WaitGroup
		for i := range orgs {
			p := auth.Principal{Org: fmt.Sprint("org-", i), UserID: "u", Groups: []string{auth.AdminGroup}}
			if err := s.UpsertUser(ctx, p); err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				_, results[i] = svc.Create(ctx, p, newReq("777", "u"))
			})
		}
		wg.Wait()
		won := 0
		for i, err := range results {
			switch {
			case err == nil:
				won++
			case !apperr.Is(err, apperr.Conflict):
				t.Errorf("org-%d: %v, want success or conflict", i, err)
			}
		}
		if won != 1 {
			t.Errorf("%d orgs connected the number, want 1", won)
		}
	})
}

func TestNonAdminRefused(t *testing.T) {
	s := storage.New(storagetest.Bolt(t))
	svc, vault := newService(t, s)
	ctx := context.Background()
	user := auth.Principal{Org: "acme", UserID: "u-sam", Groups: []string{"sales"}}
	calls := map[string]func() error{
		"list":   func() error { _, err := svc.List(ctx, user); return err },
		"get":    func() error { _, err := svc.Get(ctx, user, "int_x"); return err },
		"create": func() error { _, err := svc.Create(ctx, user, newReq("123", "u-sam")); return err },
		"update": func() error { _, err := svc.Update(ctx, user, "int_x", integration.Patch{}); return err },
		"deactivate": func() error {
			_, err := svc.Deactivate(ctx, user, "int_x", integration.Confirmation{Confirmed: true})
			return err
		},
		"activate": func() error { _, err := svc.Activate(ctx, user, "int_x"); return err },
		"connect": func() error {
			_, err := svc.Connect(ctx, user, integration.Signup{Code: "c", WABAID: "42"})
			return err
		},
		"available": func() error { _, err := svc.Available(ctx, user, ""); return err },
	}
	for name, call := range calls {
		if err := call(); !apperr.Is(err, apperr.Forbidden) {
			t.Errorf("%s by a non-admin: %v, want forbidden", name, err)
		}
	}
	if len(vault.puts) != 0 {
		t.Errorf("a refused call wrote %d secrets", len(vault.puts))
	}
}

func TestCheckActive(t *testing.T) {
	in := &integration.Integration{Nickname: "Sales", Active: true}
	if err := in.CheckActive(); err != nil {
		t.Errorf("active: %v", err)
	}
	in.Active = false
	if err := in.CheckActive(); !apperr.Is(err, apperr.Inactive) {
		t.Errorf("inactive: %v, want integration_inactive", err)
	}
}

// TestConnectNeedsTheMetaApp: without the Meta app's id and secret,
// Embedded Signup is unavailable and says so.
func TestConnectNeedsTheMetaApp(t *testing.T) {
	s := storage.New(storagetest.Bolt(t))
	svc, _ := newService(t, s)
	_, err := svc.Connect(context.Background(), admin, integration.Signup{Code: "sim-code-1", WABAID: "42"})
	if !apperr.Is(err, apperr.Unavailable) {
		t.Errorf("connect without a Meta app: %v, want unavailable", err)
	}
}

// TestCreateWithoutGraphClaimsNothing: a deployment that cannot ask Meta
// cannot prove ownership, so it connects nothing.
func TestCreateWithoutGraphClaimsNothing(t *testing.T) {
	s := storage.New(storagetest.Bolt(t))
	svc, vault := newService(t, s)
	svc.Graph = nil
	_, err := svc.Create(context.Background(), admin, newReq("111", "u-admin"))
	if !apperr.Is(err, apperr.Unavailable) || len(vault.puts) != 0 {
		t.Errorf("create without a Graph API: %v with %d secret writes, want unavailable and none", err, len(vault.puts))
	}
	if _, err := s.IntegrationByPhoneNumber(context.Background(), "111"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("the number is claimed: %v", err)
	}
}
