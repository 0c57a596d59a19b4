// Package app builds wacrm's services from a set of adapters, so the Lambda
// mains and the local stack wire the same way and differ only in adapters.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/wacrm/wacrm/shared/billing"
	"github.com/wacrm/wacrm/shared/billing/billingstream"
	"github.com/wacrm/wacrm/shared/blob"
	"github.com/wacrm/wacrm/shared/changes"
	"github.com/wacrm/wacrm/shared/httpapi"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/integration"
	"github.com/wacrm/wacrm/shared/media"
	"github.com/wacrm/wacrm/shared/metric"
	"github.com/wacrm/wacrm/shared/notify"
	"github.com/wacrm/wacrm/shared/outbox"
	"github.com/wacrm/wacrm/shared/queue"
	"github.com/wacrm/wacrm/shared/schedule"
	"github.com/wacrm/wacrm/shared/secrets"
	"github.com/wacrm/wacrm/shared/storage"
	"github.com/wacrm/wacrm/shared/table"
	"github.com/wacrm/wacrm/shared/users"
	"github.com/wacrm/wacrm/shared/whatsapp"
)

// Adapters are the outside world, AWS or embedded.
type Adapters struct {
	Table    table.Table
	Blobs    blob.Store
	Inbound  queue.Sender  // raw webhook bodies
	Outbound queue.Sender  // replies to send
	Media    queue.Sender  // inbound media to copy into Blobs
	Secrets  secrets.Store // WhatsApp access tokens
	// Schedules sets one-time schedules (EventBridge Scheduler on AWS, the
	// persisted timer locally); their firings come back through the
	// schedule queue to ScheduleHandler.
	Schedules schedule.Scheduler
	// Push delivers live events to browsers (the WebSocket hub locally,
	// API Gateway's management API on AWS); without it nothing is pushed.
	Push notify.Pusher
	// Graph is the WhatsApp Cloud API: graph.facebook.com on AWS, the
	// simulator locally.
	Graph *whatsapp.GraphClient
	// MetaApp is the Meta app's id and secret for Embedded Signup; without
	// it numbers are connected with access tokens only.
	MetaApp integration.MetaApp
	// Rates prices replies (LoadRates); nil is the shipped sample card.
	Rates *billing.RateCard
	// Payments is the payment provider: Stripe on AWS, the local stand-in
	// under make run; without it purchases and recharges fail.
	Payments billing.Payments
	Log      *slog.Logger
	Now      func() time.Time
}

// RateCardKey is where a deployment puts its own rate card in the blob
// store (a JSON file shaped like shared/billing/rates/sample.json).
const RateCardKey = "config/ratecard.json"

// LoadRates reads the deployment's rate card from blobs, or returns the
// shipped sample card when there is none. A card that is there but
// invalid is an error: prices must never silently fall back.
func LoadRates(ctx context.Context, blobs blob.Store) (*billing.RateCard, error) {
	if blobs == nil {
		return billing.SampleRateCard(), nil
	}
	body, _, err := blobs.Get(ctx, RateCardKey)
	if errors.Is(err, blob.ErrNotFound) {
		return billing.SampleRateCard(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read rate card %s: %w", RateCardKey, err)
	}
	card, err := billing.ParseRateCard(body)
	if err != nil {
		return nil, fmt.Errorf("rate card %s: %w", RateCardKey, err)
	}
	return card, nil
}

// App holds the services built on the adapters.
type App struct {
	Store  *storage.Store
	Intake *inbox.Intake
	// Replies stores replies and enqueues them; Dispatcher sends them.
	Replies    *outbox.Replies
	Dispatcher *outbox.Dispatcher
	// Media copies inbound media into the blob store.
	Media *media.Copier
	// Integrations manages WhatsApp profiles and their access tokens.
	Integrations *integration.Service
	// Users lets admins add, change, disable and remove users.
	Users *users.Service
	// Billing is credits, purchases, auto-recharge and usage.
	Billing *billing.Service
	// Schedules dispatches schedule firings by kind: domain services
	// register their handlers here (see package schedule).
	Schedules *schedule.Dispatcher
	// Consumers follow the table's change stream (see package changes):
	// the local stack runs each in process; on AWS each is a function fed
	// by the table's stream. Domain services append theirs in New.
	Consumers []changes.Consumer
	// Notify keeps the owners' notifications and the windows' schedules.
	Notify     *notify.Service
	inbound    *queue.ClaimCheck
	quarantine *httpapi.Quarantine
	a          Adapters
}

// New builds the services.
func New(a Adapters) *App {
	if a.Log == nil {
		a.Log = slog.Default()
	}
	if a.Now == nil {
		a.Now = time.Now
	}
	store := storage.New(a.Table).WithClock(a.Now)
	if a.Rates == nil {
		a.Rates = billing.SampleRateCard()
	}
	var graph outbox.Graph // stays nil, not a nil pointer, without a client
	var mediaGraph media.Graph
	var integGraph integration.Graph
	if a.Graph != nil {
		graph, mediaGraph, integGraph = a.Graph, a.Graph, a.Graph
	}
	quarantine := &httpapi.Quarantine{Blobs: a.Blobs, Now: a.Now}
	bill := &billing.Service{Store: store, Numbers: store, Payments: a.Payments, Rates: a.Rates, Log: a.Log, Now: a.Now}
	var mediaJobs inbox.MediaQueue
	if a.Media != nil {
		mediaJobs = &media.Enqueuer{Queue: a.Media, Delay: media.DefaultEnqueueDelay}
	}
	app := &App{
		Store: store,
		Intake: &inbox.Intake{
			Store:      store,
			Owners:     integration.Assigner{Directory: store, Counter: store},
			Media:      mediaJobs,
			Quarantine: quarantine,
			Log:        a.Log,
			Now:        a.Now,
		},
		quarantine:   quarantine,
		inbound:      &queue.ClaimCheck{Sender: a.Inbound, Blobs: a.Blobs, Logger: a.Log},
		Users:        &users.Service{Store: store, Now: a.Now},
		Integrations: &integration.Service{Store: store, Users: store, Secrets: a.Secrets, Graph: integGraph, App: a.MetaApp, Now: a.Now},
		Replies:      &outbox.Replies{Store: store, Canned: store, Queue: a.Outbound, Rates: a.Rates, Log: a.Log, Now: a.Now},
		Billing:      bill,
		Dispatcher: &outbox.Dispatcher{
			Store: store, Graph: graph, Secrets: a.Secrets, Queue: a.Outbound,
			Log: a.Log, Now: a.Now,
		},
		Notify:    &notify.Service{Store: store, Schedules: a.Schedules, Log: a.Log, Now: a.Now},
		Media:     &media.Copier{Store: store, Graph: mediaGraph, Secrets: a.Secrets, Blobs: a.Blobs, Queue: a.Media, Log: a.Log},
		Schedules: &schedule.Dispatcher{Log: a.Log},
		Consumers: []changes.Consumer{billingstream.Consumer(bill, store, a.Log, a.Now)},
		a:         a,
	}
	app.Notify.Register(app.Schedules)
	app.Consumers = append(app.Consumers, app.NotifyConsumer())
	if a.Push != nil {
		app.Consumers = append(app.Consumers, app.PushConsumer(a.Push))
	}
	return app
}

// ScheduleHandler consumes the schedule queue: each message is a
// schedule.Firing, handed to the handler registered for its kind. A firing
// that fails (or that no handler claims) is retried and then kept in the
// schedule dead-letter queue.
func (app *App) ScheduleHandler() queue.BatchHandler {
	return app.Schedules.HandleBatch
}

// Webhook is the handler for GET/POST /webhook with a secret that never
// changes (the local stack, tests).
func (app *App) Webhook(appSecret []byte, verifyToken string) *httpapi.Webhook {
	return app.WebhookFrom(httpapi.StaticSecret{AppSecret: string(appSecret), VerifyToken: verifyToken})
}

// WebhookFrom is the handler for GET/POST /webhook reading its secret from
// secrets on each request (a Lambda's cache of Secrets Manager).
func (app *App) WebhookFrom(secrets httpapi.WebhookSecrets) *httpapi.Webhook {
	return &httpapi.Webhook{
		Secrets: secrets, Queue: app.inbound, Quarantine: app.quarantine, Log: app.a.Log,
	}
}

// PaymentWebhook is the handler for POST /billing/stripe/webhook: events
// read by events (the provider's verifier), applied by Billing.
func (app *App) PaymentWebhook(events httpapi.PaymentEvents) *httpapi.PaymentWebhook {
	return &httpapi.PaymentWebhook{Events: events, Billing: app.Billing, Quarantine: app.quarantine, Log: app.a.Log}
}

// InboundHandler consumes the inbound queue: each message is one webhook
// body. Bodies that can never be processed are kept under malformed/ by the
// intake and not retried; other failures are retried by the queue and end
// in its dead-letter queue.
func (app *App) InboundHandler() queue.BatchHandler {
	return app.inbound.Handler(func(ctx context.Context, batch []queue.Message) []string {
		var failed []string
		for _, msg := range batch {
			err := app.Intake.HandleBody(ctx, msg.Body)
			switch {
			case errors.Is(err, inbox.ErrUnprocessable):
				app.a.Log.ErrorContext(ctx, "inbound body kept under malformed/, not retried", "messageId", msg.ID, "err", err, metric.UnprocessableBody.Attr())
			case err != nil:
				app.a.Log.WarnContext(ctx, "inbound body failed; will retry", "messageId", msg.ID, "receiveCount", msg.ReceiveCount, "err", err)
				failed = append(failed, msg.ID)
			}
			// Claim-checked bodies are not released here: a redelivery after
			// a lost delete must still find them. The bucket lifecycle expires them.
		}
		return failed
	})
}

// OutboundHandler consumes the outbound queue: each message is an
// outbox.Job, sent through the Graph API. Throttled jobs come back on the
// queue with a delay; failures the queue should retry are reported failed.
func (app *App) OutboundHandler() queue.BatchHandler {
	return app.Dispatcher.HandleBatch
}

// MediaHandler consumes the media queue: each message is a media.Job,
// copied from the Graph API into the blob store. Throttled jobs come back
// on the queue with a delay; failures the queue should retry are reported
// failed.
func (app *App) MediaHandler() queue.BatchHandler {
	return app.Media.HandleBatch
}

// API is the CRM API handler.
func (app *App) API(authn httpapi.Authenticator) *httpapi.API {
	return &httpapi.API{
		Auth: authn, Users: app.Store, Conversations: app.Store, Views: app.Store,
		Replies: app.Replies, Canned: app.Store, Records: app.Store,
		RecordWriter: app.Store, Directory: app.Store, UserAdmin: app.Users, Integrations: app.Integrations, Settings: app.Store, Billing: app.Billing,
		Notifications: app.Notify,
		Blobs:         app.a.Blobs, Uploads: app.Store, UploadBlobs: app.a.Blobs, Log: app.a.Log, Now: app.a.Now,
	}
}

// NotifyConsumer follows conversations and notifications on the table's
// change stream: a new customer message raises or updates the owner's
// notification, a moved window moves its schedule, a snooze sets its
// reminder and a dismissal deletes it. Every step is idempotent.
func (app *App) NotifyConsumer() changes.Consumer {
	return changes.Consumer{
		Name:    "notify",
		Filters: storage.NotifyChanges,
		Handle: func(ctx context.Context, ch changes.Change) error {
			if storage.ConversationChanges.Match(ch) {
				old, new, err := storage.ConversationChange(ch)
				if err != nil {
					return err
				}
				return app.Notify.OnConversation(ctx, old, new)
			}
			old, new, err := storage.NotificationChange(ch)
			if err != nil {
				return err
			}
			return app.Notify.OnNotification(ctx, old, new)
		},
	}
}

// PushConsumer pushes the events of conversation, message and notification
// changes to the browsers of the users they concern.
func (app *App) PushConsumer(p notify.Pusher) changes.Consumer {
	return changes.Consumer{
		Name:    "push",
		Filters: storage.PushChanges,
		Handle: func(ctx context.Context, ch changes.Change) error {
			var evs []notify.Event
			switch {
			case storage.ConversationChanges.Match(ch):
				old, new, err := storage.ConversationChange(ch)
				if err != nil {
					return err
				}
				if old != nil && new != nil {
					evs = notify.ConversationEvents(&old.Conversation, &new.Conversation)
				}
			case storage.MessageChanges.Match(ch):
				old, new, err := storage.MessageChange(ch)
				if err != nil {
					return err
				}
				evs = notify.MessageEvents(old, new)
			default:
				old, new, err := storage.NotificationChange(ch)
				if err != nil {
					return err
				}
				evs = notify.NotificationEvents(old, new)
			}
			if len(evs) == 0 {
				return nil
			}
			return p.Push(ctx, evs)
		},
	}
}
