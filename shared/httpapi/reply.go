package httpapi

import (
	"context"
	"net/http"

	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/outbox"
)

// Replier sends replies (outbox.Replies).
type Replier interface {
	Reply(ctx context.Context, p auth.Principal, conversationID string, req outbox.ReplyRequest) (msg *inbox.Message, replayed bool, err error)
}

// replyBody is POST /v1/conversations/{id}/messages.
type replyBody struct {
	Text             string   `json:"text,omitempty"`
	CannedResponseID string   `json:"cannedResponseId,omitempty"`
	AttachmentIDs    []string `json:"attachmentIds,omitempty"`
}

// maxReplyBody leaves room for a 4,096-character text in escaped JSON.
const maxReplyBody = 64 << 10

// reply answers 202 with the queued message, or 200 with the first one
// when the Idempotency-Key was used before (nothing is sent twice).
func (a *API) reply(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var body replyBody
	if err := decodeJSON(w, r, maxReplyBody, &body); err != nil {
		return err
	}
	if body.CannedResponseID != "" {
		if err := checkID("cannedResponseId", body.CannedResponseID); err != nil {
			return err
		}
	}
	msg, replayed, err := a.Replies.Reply(r.Context(), p, r.PathValue("id"), outbox.ReplyRequest{
		Text: body.Text, CannedResponseID: body.CannedResponseID, AttachmentIDs: body.AttachmentIDs,
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
	})
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if replayed {
		status = http.StatusOK
	}
	writeJSON(w, status, msg)
	return nil
}
