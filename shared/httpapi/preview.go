package httpapi

import (
	"context"
	"net/http"

	"github.com/wacrm/wacrm/shared/apperr"
	"github.com/wacrm/wacrm/shared/auth"
	"github.com/wacrm/wacrm/shared/billing"
	"github.com/wacrm/wacrm/shared/canned"
	"github.com/wacrm/wacrm/shared/inbox"
	"github.com/wacrm/wacrm/shared/records"
)

// RecordReader reads the CRM record a conversation is filed against, to
// fill merge fields. A missing record is apperr.NotFound.
type RecordReader interface {
	Record(ctx context.Context, org string, module records.Module, id string) (*records.Record, error)
}

// previewBody is POST /v1/conversations/{id}/preview: exactly one of them.
type previewBody struct {
	Text             string `json:"text"`
	CannedResponseID string `json:"cannedResponseId"`
}

// previewResponse is what a reply would send, and the state it would meet.
type previewResponse struct {
	canned.Preview
	CannedResponseID string          `json:"cannedResponseId,omitempty"`
	Record           inbox.RecordRef `json:"record"`
	Window           windowView      `json:"window"`
	// NextReply is what sending it would cost now.
	NextReply *billing.Quote `json:"nextReply,omitempty"`
}

// preview renders a typed text or a canned response for the conversation's
// record without sending anything. It answers even when the window is
// closed: the window state says whether a reply would be accepted.
func (a *API) preview(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var body previewBody
	if err := decodeJSON(w, r, maxCannedBody, &body); err != nil {
		return err
	}
	if (body.Text == "") == (body.CannedResponseID == "") {
		return apperr.E(apperr.Invalid, "Send either text or cannedResponseId, exactly one of them.")
	}
	ctx := r.Context()
	conv, err := a.Conversations.Conversation(ctx, p.Org, r.PathValue("id"))
	if err != nil {
		return err
	}
	text, textModule := body.Text, records.Module("")
	if body.CannedResponseID != "" {
		if err := checkID("cannedResponseId", body.CannedResponseID); err != nil {
			return err
		}
		c, err := a.Canned.CannedResponse(ctx, p.Org, body.CannedResponseID)
		if err != nil {
			return err
		}
		text, textModule = c.Text, c.Module
	} else if err := canned.ValidateText(text, ""); err != nil {
		return err
	}
	rec, err := a.Records.Record(ctx, p.Org, conv.Record.Module, conv.Record.ID)
	if apperr.Is(err, apperr.NotFound) {
		// The record is gone: every field shows as missing, which is what
		// a reply would send.
		a.Log.WarnContext(ctx, "preview: conversation's record not found", "conversation", conv.ID, "module", conv.Record.Module, "record", conv.Record.ID)
		rec, err = nil, nil
	}
	if err != nil {
		return err
	}
	now := a.now()
	quote, err := a.nextReply(ctx, conv)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, previewResponse{
		Preview:          canned.NewPreview(text, textModule, conv.Record.Module, rec),
		CannedResponseID: body.CannedResponseID,
		Record:           conv.Record,
		Window:           viewOf(conv, now).Window,
		NextReply:        quote,
	})
	return nil
}
