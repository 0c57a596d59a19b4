package inbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/records"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/storage/storagetest"
)

const (
	org  = "org-acme"
	pnid = "106540352242922"
)

var t0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

type fixture struct {
	store  *storage.Store
	intake *inbox.Intake
	integ  *integration.Integration
}

func newFixture(t *testing.T, s *storage.Store, assign integration.Assignment) *fixture {
	t.Helper()
	ctx := context.Background()
	integ := &integration.Integration{
		ID: "int-1", Org: org, Nickname: "Sales", PhoneNumberID: pnid, WABAID: "waba-1", Active: true,
		Preferences: integration.Preferences{UnknownSenders: records.Leads, Assign: assign},
		CreatedBy:   "u-admin", CreatedAt: t0,
	}
	if err := s.CreateIntegration(ctx, integ); err != nil {
		t.Fatal(err)
	}
	for _, u := range []auth.Principal{
		{Org: org, UserID: "u-ana", Groups: []string{"sales"}},
		{Org: org, UserID: "u-ben", Groups: []string{"sales"}},
		{Org: org, UserID: "u-cy", Groups: []string{"sales", "admin"}},
		{Org: org, UserID: "u-dee", Groups: []string{"support"}},
		{Org: "org-other", UserID: "u-eve", Groups: []string{"sales"}},
	} {
		if err := s.UpsertUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	return &fixture{
		store: s, integ: integ,
		intake: &inbox.Intake{Store: s, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Owners: integration.Assigner{Directory: s, Counter: s}, Now: func() time.Time { return t0.Add(time.Hour) }},
	}
}

// body builds a webhook body as Meta sends it.
func body(phoneNumberID string, contacts []map[string]any, messages []map[string]any, statuses []map[string]any) []byte {
	value := map[string]any{
		"messaging_product": "whatsapp",
		"metadata":          map[string]any{"display_phone_number": "15550001111", "phone_number_id": phoneNumberID},
	}
	if contacts != nil {
		value["contacts"] = contacts
	}
	if messages != nil {
		value["messages"] = messages
	}
	if statuses != nil {
		value["statuses"] = statuses
	}
	b, _ := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry":  []any{map[string]any{"id": "waba-1", "changes": []any{map[string]any{"field": "messages", "value": value}}}},
	})
	return b
}

func textFrom(waID, name, wamid string, at time.Time, text string) []byte {
	return body(pnid,
		[]map[string]any{{"wa_id": waID, "profile": map[string]any{"name": name}}},
		[]map[string]any{{"from": waID, "id": wamid, "timestamp": fmt.Sprint(at.Unix()), "type": "text", "text": map[string]any{"body": text}}},
		nil)
}

func statusBody(wamid, status string, at time.Time) []byte {
	s := map[string]any{"id": wamid, "status": status, "timestamp": fmt.Sprint(at.Unix()), "recipient_id": "15551230000"}
	if status == "failed" {
		s["errors"] = []any{map[string]any{"code": 131026, "title": "Message undeliverable"}}
	}
	if status == "sent" {
		s["pricing"] = map[string]any{"billable": true, "pricing_model": "PMP", "category": "service", "type": "free_customer_service"}
	}
	return body(pnid, nil, nil, []map[string]any{s})
}

func allConversations(t *testing.T, s *storage.Store, f inbox.Filter) []inbox.Conversation {
	t.Helper()
	var out []inbox.Conversation
	for {
		page, next, err := s.Conversations(context.Background(), org, f, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		f.Cursor = next
	}
}

func allMessages(t *testing.T, s *storage.Store, convID string) []inbox.Message {
	t.Helper()
	var out []inbox.Message
	cursor := ""
	for {
		page, next, err := s.Messages(context.Background(), org, convID, cursor, 100)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		cursor = next
	}
}

func TestIntake(t *testing.T) {
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		t.Run("duplicates and shuffled deliveries give exact counts", func(t *testing.T) { testDuplicates(t, s) })
	})
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		t.Run("statuses in every order end at the highest", func(t *testing.T) { testStatusOrders(t, s) })
	})
	storagetest.ForEachTable(t, func(t *testing.T, s *storage.Store) {
		t.Run("routing, identities and window", func(t *testing.T) { testRouting(t, s) })
	})
}

// 1,000 deliveries: 700 distinct messages from 35 customers plus 300
// redeliveries, shuffled and handled by 4 concurrent consumers.
func testDuplicates(t *testing.T, s *storage.Store) {
	f := newFixture(t, s, integration.Assignment{Kind: integration.AssignGroup, IDs: []string{"sales"}})
	const customers, perCustomer, dups = 35, 20, 300
	type delivery struct {
		body []byte
		id   string
	}
	var unique []delivery
	for c := range customers {
		for m := range perCustomer {
			wamid := fmt.Sprintf("wamid.C%02dM%02d", c, m)
			at := t0.Add(time.Duration(m)*time.Minute + time.Duration(c)*time.Second)
			unique = append(unique, delivery{textFrom(fmt.Sprintf("1555000%04d", c), fmt.Sprintf("Customer %d", c), wamid, at, fmt.Sprintf("hello %d 👋", m)), wamid})
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	all := slices.Clone(unique)
	for range dups {
		all = append(all, unique[rng.IntN(len(unique))])
	}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })

	work := make(chan delivery)
	var wg sync.WaitGroup
	errs := make(chan error, len(all))
	for range 4 {
		wg.Go(func() {
			for d := range work {
				if err := f.intake.HandleBody(context.Background(), d.body); err != nil {
					errs <- fmt.Errorf("%s: %w", d.id, err)
				}
			}
		})
	}
	for _, d := range all {
		work <- d
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	if got, want := f.intake.Counts.Messages.Load(), int64(customers*perCustomer); got != want {
		t.Errorf("messages stored: got %d, want %d", got, want)
	}
	if got, want := f.intake.Counts.Duplicates.Load(), int64(dups); got != want {
		t.Errorf("duplicates: got %d, want %d", got, want)
	}
	convs := allConversations(t, s, inbox.Filter{Limit: 7})
	if len(convs) != customers {
		t.Fatalf("conversations: got %d, want %d", len(convs), customers)
	}
	owners := map[string]int{}
	for _, c := range convs {
		owners[c.OwnerID]++
		msgs := allMessages(t, s, c.ID)
		if len(msgs) != perCustomer {
			t.Errorf("conversation %s: %d messages, want %d", c.ID, len(msgs), perCustomer)
		}
		if !slices.IsSortedFunc(msgs, func(a, b inbox.Message) int { return a.Timestamp.Compare(b.Timestamp) }) {
			t.Errorf("conversation %s: messages out of order", c.ID)
		}
		if c.UnreadCount != perCustomer {
			t.Errorf("conversation %s: unread %d, want %d", c.ID, c.UnreadCount, perCustomer)
		}
		last := msgs[len(msgs)-1].Timestamp
		if !c.LastInboundAt.Equal(last) || !c.WindowExpiresAt().Equal(last.Add(24*time.Hour)) {
			t.Errorf("conversation %s: window %v..%v, want last inbound %v", c.ID, c.LastInboundAt, c.WindowExpiresAt(), last)
		}
		if c.UnansweredSince == nil || !c.UnansweredSince.Equal(msgs[0].Timestamp) {
			t.Errorf("conversation %s: unanswered since %v, want %v", c.ID, c.UnansweredSince, msgs[0].Timestamp)
		}
		rec, err := s.Record(context.Background(), org, c.Record.Module, c.Record.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Module != records.Leads || rec.OwnerID != c.OwnerID || rec.WaID != c.Customer.WaID {
			t.Errorf("record %+v does not match conversation %+v", rec, c)
		}
	}
	// Round-robin over the sales group (u-ana, u-ben, u-cy): 35 records -> 12/12/11.
	if len(owners) != 3 || owners["u-dee"] != 0 || owners["u-eve"] != 0 {
		t.Errorf("owners %v: want only the three sales members", owners)
	}
	for o, n := range owners {
		if n < 11 || n > 12 {
			t.Errorf("owner %s got %d records, want 11 or 12", o, n)
		}
	}
}

func testStatusOrders(t *testing.T, s *storage.Store) {
	f := newFixture(t, s, integration.Assignment{Kind: integration.AssignUser, IDs: []string{"u-ana"}})
	ctx := context.Background()
	if err := f.intake.HandleBody(ctx, textFrom("15551230000", "Ana", "wamid.in1", t0, "hi")); err != nil {
		t.Fatal(err)
	}
	conv := allConversations(t, s, inbox.Filter{})[0]

	sets := [][]string{
		{"sent", "delivered", "read"},
		{"sent", "delivered", "read", "failed"},
		{"sent", "failed"},
		{"sent", "delivered"},
		{"delivered", "read"},
		{"sent"},
	}
	want := func(set []string) inbox.Status {
		best := inbox.Status("")
		for _, st := range set {
			if inbox.Status(st).Rank() > best.Rank() {
				best = inbox.Status(st)
			}
		}
		return best
	}
	n := 0
	for _, set := range sets {
		for _, order := range permutations(set) {
			for _, early := range []bool{false, true} {
				n++
				id := fmt.Sprintf("out-%d", n)
				wamid := fmt.Sprintf("wamid.OUT%d", n)
				at := t0.Add(time.Duration(n) * time.Second)
				msg := &inbox.Message{Org: org, ConversationID: conv.ID, ID: id, Direction: inbox.Outbound, Type: "text", Text: "reply", Timestamp: at, Status: inbox.StatusQueued, SentBy: "u-ana"}
				if _, _, err := s.PutOutbound(ctx, msg, "", "", func(c *inbox.Conversation) error { c.ApplyReply("u-ana", "reply", at); return nil }); err != nil {
					t.Fatal(err)
				}
				if !early {
					if err := s.RecordSent(ctx, org, conv.ID, at, id, wamid, at); err != nil {
						t.Fatal(err)
					}
				}
				for i, st := range order {
					if err := f.intake.HandleBody(ctx, statusBody(wamid, st, at.Add(time.Duration(i+1)*time.Second))); err != nil {
						t.Fatal(err)
					}
				}
				if early { // statuses raced ahead of the send recording its wamid
					if err := s.RecordSent(ctx, org, conv.ID, at, id, wamid, at); err != nil {
						t.Fatal(err)
					}
				}
				got, err := s.Message(ctx, org, conv.ID, at, id)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status != want(order) {
					t.Errorf("order %v (early=%v): status %s, want %s", order, early, got.Status, want(order))
				}
				if slices.Contains(order, "sent") && got.Pricing == nil {
					t.Errorf("order %v (early=%v): pricing from the sent status lost", order, early)
				}
				if slices.Contains(order, "read") && (got.Read == nil || got.Delivered == nil) {
					t.Errorf("order %v: read must set readAt and deliveredAt", order)
				}
				if got.Status != inbox.StatusFailed && len(got.Errors) != 0 {
					t.Errorf("order %v (early=%v): %s with the errors of a failure it overtook: %+v", order, early, got.Status, got.Errors)
				}
				if got.Status == inbox.StatusFailed && len(got.Errors) != 1 {
					t.Errorf("order %v (early=%v): failed with errors %+v, want WhatsApp's", order, early, got.Errors)
				}
			}
		}
	}
}

func permutations(s []string) [][]string {
	if len(s) <= 1 {
		return [][]string{slices.Clone(s)}
	}
	var out [][]string
	for i := range s {
		rest := append(slices.Clone(s[:i]), s[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]string{s[i]}, p...))
		}
	}
	return out
}

func testRouting(t *testing.T, s *storage.Store) {
	f := newFixture(t, s, integration.Assignment{Kind: integration.AssignUsers, IDs: []string{"u-ben", "u-ana"}})
	ctx := context.Background()

	// Unknown number: dropped, counted, nothing stored, no error (no retry).
	if err := f.intake.HandleBody(ctx, body("999", nil, []map[string]any{{"from": "1", "id": "wamid.X", "timestamp": "1", "type": "text", "text": map[string]any{"body": "x"}}}, nil)); err != nil {
		t.Fatalf("unknown number: %v", err)
	}
	if got := f.intake.Counts.UnknownNumber.Load(); got != 1 {
		t.Errorf("unknown number count %d, want 1", got)
	}

	// A sender with no phone number, only a business-scoped user id.
	userOnly := body(pnid,
		[]map[string]any{{"user_id": "US.13491208655302741918", "profile": map[string]any{"name": "Zoë"}}},
		[]map[string]any{{"from_user_id": "US.13491208655302741918", "id": "wamid.U1", "timestamp": fmt.Sprint(t0.Unix()), "type": "text", "text": map[string]any{"body": "hola"}}},
		nil)
	if err := f.intake.HandleBody(ctx, userOnly); err != nil {
		t.Fatal(err)
	}
	// The same person later writes with a phone number too: same record.
	both := body(pnid,
		[]map[string]any{{"wa_id": "15557654321", "user_id": "US.13491208655302741918", "profile": map[string]any{"name": "Zoë"}}},
		[]map[string]any{{"from": "15557654321", "from_user_id": "US.13491208655302741918", "id": "wamid.U2", "timestamp": fmt.Sprint(t0.Add(time.Minute).Unix()), "type": "text", "text": map[string]any{"body": "again"}}},
		nil)
	if err := f.intake.HandleBody(ctx, both); err != nil {
		t.Fatal(err)
	}
	convs := allConversations(t, s, inbox.Filter{})
	if len(convs) != 1 {
		t.Fatalf("got %d conversations, want 1: %+v", len(convs), convs)
	}
	c := convs[0]
	if c.Customer.UserID != "US.13491208655302741918" || c.Customer.WaID != "15557654321" || c.Customer.Name != "Zoë" {
		t.Errorf("customer %+v", c.Customer)
	}
	if c.OwnerID != "u-ana" { // sorted round-robin starts with u-ana
		t.Errorf("owner %s, want u-ana", c.OwnerID)
	}
	if got := len(allMessages(t, s, c.ID)); got != 2 {
		t.Errorf("messages %d, want 2", got)
	}

	// A reply answers the conversation; a later customer message reopens it.
	replyAt := t0.Add(2 * time.Minute)
	out := &inbox.Message{Org: org, ConversationID: c.ID, ID: "o1", Direction: inbox.Outbound, Type: "text", Timestamp: replyAt, Status: inbox.StatusQueued, SentBy: "u-ana"}
	if _, _, err := s.PutOutbound(ctx, out, "", "", func(c *inbox.Conversation) error { c.ApplyReply("u-ana", "ok", replyAt); return nil }); err != nil {
		t.Fatal(err)
	}
	if got := allConversations(t, s, inbox.Filter{Unanswered: true}); len(got) != 0 {
		t.Errorf("answered conversation still listed as unanswered")
	}
	if got := allConversations(t, s, inbox.Filter{AnsweredBy: "u-ana"}); len(got) != 1 {
		t.Errorf("answered by u-ana: %d conversations, want 1", len(got))
	}
	late := textFrom("15557654321", "Zoë", "wamid.U3", t0.Add(time.Minute+30*time.Second), "older, arrived late")
	if err := f.intake.HandleBody(ctx, late); err != nil {
		t.Fatal(err)
	}
	if got := allConversations(t, s, inbox.Filter{Unanswered: true}); len(got) != 0 {
		t.Errorf("a message older than the reply must not reopen the conversation")
	}
	if err := f.intake.HandleBody(ctx, textFrom("15557654321", "Zoë", "wamid.U4", t0.Add(3*time.Minute), "new")); err != nil {
		t.Fatal(err)
	}
	if got := allConversations(t, s, inbox.Filter{Unanswered: true}); len(got) != 1 {
		t.Errorf("a newer message must reopen the conversation")
	}

	// Deactivated integration: dropped and counted.
	if _, err := s.UpdateIntegration(ctx, org, f.integ.ID, func(in *integration.Integration) error { in.Active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := f.intake.HandleBody(ctx, textFrom("15557654321", "Zoë", "wamid.U5", t0.Add(4*time.Minute), "x")); err != nil {
		t.Fatal(err)
	}
	if got := f.intake.Counts.InactiveNumber.Load(); got != 1 {
		t.Errorf("inactive count %d, want 1", got)
	}

	// Not a WhatsApp body: unprocessable, never retried.
	if err := f.intake.HandleBody(ctx, []byte(`{"object":"page"}`)); err == nil {
		t.Errorf("want an error for a non-WhatsApp body")
	}

	// Another org sees nothing of it.
	if _, err := s.Conversation(ctx, "org-other", c.ID); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("other org get: %v, want not found", err)
	}
	if got, _, _ := s.Conversations(ctx, "org-other", inbox.Filter{}, t0); len(got) != 0 {
		t.Errorf("other org lists %d conversations", len(got))
	}
}
