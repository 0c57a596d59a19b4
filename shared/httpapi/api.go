package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/ids"
	"github.com/wacrm/wacrm/shared/inbox"
)

// Authenticator turns a request into a principal: by verifying the bearer
// token locally, or by reading the claims API Gateway already verified.
type Authenticator interface {
	Authenticate(r *http.Request) (auth.Principal, error)
}

// UserRecorder remembers users seen in tokens, so assignment rules can find
// the members of a group or role.
type UserRecorder interface {
	UpsertUser(ctx context.Context, p auth.Principal) error
}

// ConversationReader serves the Messages tab.
type ConversationReader interface {
	Conversations(ctx context.Context, org string, f inbox.Filter, now time.Time) ([]inbox.Conversation, string, error)
	Conversation(ctx context.Context, org, id string) (*inbox.Conversation, error)
	Messages(ctx context.Context, org, conversationID, cursor string, limit int) ([]inbox.Message, string, error)
	MessagesNewestFirst(ctx context.Context, org, conversationID, cursor string, limit int) ([]inbox.Message, string, error)
	Attachments(ctx context.Context, org, conversationID, cursor string, limit int) ([]inbox.Attachment, string, error)
}

// ViewStore keeps users' saved views of the Messages tab.
type ViewStore interface {
	SaveView(ctx context.Context, org, user string, v *inbox.View) error
	Views(ctx context.Context, org, user string) ([]inbox.View, error)
	View(ctx context.Context, org, user, id string) (*inbox.View, error)
	DeleteView(ctx context.Context, org, user, id string) error
}

// API is the CRM frontend's HTTP API under /v1.
type API struct {
	Auth          Authenticator
	Users         UserRecorder
	Conversations ConversationReader
	Views         ViewStore
	Replies       Replier
	Canned        CannedStore
	Records       RecordReader
	RecordWriter  RecordWriter
	Directory     UserDirectory
	UserAdmin     UserAdmin
	Integrations  IntegrationService
	Settings      SettingsStore // the org's settings (its time zone); none: UTC for all
	Billing       BillingService
	Notifications Notifier
	Blobs         BlobLinker  // download URLs of media copies; none without it
	Uploads       UploadStore // files uploaded from the computer; 503 without it or UploadBlobs
	UploadBlobs   UploadBlobs
	Log           *slog.Logger
	Now           func() time.Time

	seen sync.Map // user key -> time last recorded
}

// Handler returns the routes.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	params := documentedQueryParameters()
	handle := func(pattern string, h func(http.ResponseWriter, *http.Request, auth.Principal) error) {
		mux.Handle(pattern, a.authenticated(checkQuery(params[pattern], h)))
	}
	handle("GET /v1/conversations", a.listConversations)
	handle("GET /v1/conversations/{id}", a.getConversation)
	handle("GET /v1/conversations/{id}/messages", a.listMessages)
	handle("POST /v1/conversations/{id}/messages", a.reply)
	handle("GET /v1/conversations/{id}/attachments", a.listAttachments)
	handle("POST /v1/conversations/{id}/preview", a.preview)
	handle("POST /v1/attachments", a.createUpload)
	handle("GET /v1/attachments/{id}", a.getUpload)
	handle("POST /v1/attachments/{id}/complete", a.completeUpload)
	handle("GET /v1/canned-responses", a.listCanned)
	handle("POST /v1/canned-responses", a.createCanned)
	handle("GET /v1/canned-responses/{id}", a.getCanned)
	handle("PATCH /v1/canned-responses/{id}", a.updateCanned)
	handle("DELETE /v1/canned-responses/{id}", a.deleteCanned)
	handle("GET /v1/views", a.listViews)
	handle("POST /v1/views", a.createView)
	handle("GET /v1/views/{id}", a.getView)
	handle("DELETE /v1/views/{id}", a.deleteView)
	handle("GET /v1/integrations", a.listIntegrations)
	handle("POST /v1/integrations", a.createIntegration)
	handle("GET /v1/integrations/{id}", a.getIntegration)
	handle("PATCH /v1/integrations/{id}", a.updateIntegration)
	handle("DELETE /v1/integrations/{id}", a.deactivateIntegration)
	handle("POST /v1/integrations/{id}/activate", a.activateIntegration)
	handle("POST /v1/integrations/connect", a.connectIntegration)
	handle("GET /v1/integrations/available", a.availableNumbers)
	handle("GET /v1/records/{module}/{id}", a.getRecord)
	handle("PATCH /v1/records/{module}/{id}", a.updateRecord)
	handle("GET /v1/users", a.listUsers)
	handle("GET /v1/settings", a.getSettings)
	handle("PATCH /v1/settings", a.updateSettings)
	handle("POST /v1/users", a.addUser)
	handle("GET /v1/users/{id}", a.getUser)
	handle("PATCH /v1/users/{id}", a.updateUser)
	handle("DELETE /v1/users/{id}", a.removeUser)
	handle("GET /v1/billing", a.getBilling)
	handle("PATCH /v1/billing", a.patchBilling)
	handle("GET /v1/billing/rates", a.getRates)
	handle("GET /v1/billing/ledger", a.listLedger)
	handle("GET /v1/billing/usage", a.getUsage)
	handle("POST /v1/billing/purchases", a.createPurchase)
	handle("PUT /v1/billing/auto-recharge", a.putAutoRecharge)
	handle("GET /v1/notifications", a.listNotifications)
	handle("POST /v1/notifications/{id}/snooze", a.snoozeNotification)
	handle("POST /v1/notifications/{id}/dismiss", a.dismissNotification)
	handle("POST /v1/notifications/read", a.readNotifications)
	handle("POST /v1/conversations/{id}/read", a.readConversation)
	handle("GET /v1/settings/notifications", a.getNotificationSettings)
	handle("PUT /v1/settings/notifications", a.putNotificationSettings)
	mux.HandleFunc("GET /openapi.json", serveOpenAPI)   // public: the API's shape, no org's data
	mux.HandleFunc("GET /asyncapi.json", serveAsyncAPI) // public: the pushed events' shape
	return routingErrorsAsJSON(mux, a.Log)
}

func (a *API) authenticated(h func(http.ResponseWriter, *http.Request, auth.Principal) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Auth.Authenticate(r)
		if err != nil {
			writeError(w, r, a.Log, apperr.Wrap(err, apperr.Unauthenticated, "A valid bearer token is required."))
			return
		}
		// Every route's {id} goes into a storage key: one outside the ids
		// alphabet is refused here, for all routes at once.
		if id := r.PathValue("id"); id != "" {
			if err := checkID("The id in the path", id); err != nil {
				writeError(w, r, a.Log, err)
				return
			}
		}
		a.recordUser(r.Context(), p)
		if err := h(w, r, p); err != nil {
			writeError(w, r, a.Log, err)
		}
	})
}

// recordUser upserts the caller at most once an hour per process.
func (a *API) recordUser(ctx context.Context, p auth.Principal) {
	if a.Users == nil {
		return
	}
	key := p.Org + "\x00" + p.UserID
	if last, ok := a.seen.Load(key); ok && a.now().Sub(last.(time.Time)) < time.Hour {
		return
	}
	if err := a.Users.UpsertUser(ctx, p); err != nil {
		a.Log.WarnContext(ctx, "record user", "user", p.UserID, "err", err)
		return
	}
	a.seen.Store(key, a.now())
}

// checkID refuses an id from a request that could not go into a storage
// key (shared/ids holds the alphabet): a 400, never a lookup.
func checkID(what, id string) error {
	if err := ids.Check(what, id); err != nil {
		return apperr.Wrap(err, apperr.Invalid, "%s is not an id: %v.", what, err)
	}
	return nil
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

// page is every list's shape.
type page[T any] struct {
	Items  []T    `json:"items"`
	Cursor string `json:"cursor,omitempty"`
}

func newPage[T any](items []T, cursor string) page[T] {
	if items == nil {
		items = []T{}
	}
	return page[T]{Items: items, Cursor: cursor}
}

func limitParam(r *http.Request, def, maxLimit int) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxLimit {
		return 0, apperr.E(apperr.Invalid, "limit must be a whole number from 1 to %d, not %q.", maxLimit, s)
	}
	return n, nil
}
