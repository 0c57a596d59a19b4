// Package storage keeps wacrm's objects in one table.Table: the single-table
// key design lives here, in one place, and serves every access pattern with
// a Get or a Query on a key or a sparse index, never a scan. The same code
// runs on DynamoDB and on the embedded bolt file, because both implement
// table.Table.
package storage

import (
	"time"

	"github.com/wacrm/wacrm/shared/records"
	"github.com/wacrm/wacrm/shared/table"
)

// Items and their keys. <t> is a fixed-width UTC timestamp, so sort keys
// order by time.
//
//	integration        PK ORG#<org>                 SK INTEG#<id>
//	phone claim        PK PHONE#<phoneNumberId>     SK PHONE
//	user               PK ORG#<org>                 SK USER#<id>
//	counter            PK CTR#<name>                SK CTR
//	record             PK REC#<org>#<module>#<id>   SK REC
//	identity claim     PK IDENT#<org>#<identity>    SK IDENT
//	conversation       PK CONV#<org>#<id>           SK CONV
//	  by activity      GSI1 ORG#<org>#CONVS               <lastMessageAt>#<id>
//	  unanswered       GSI2 ORG#<org>#UNANSWERED          <unansweredSince>#<id>   (sparse)
//	  by owner         GSI3 ORG#<org>#OWNER#<user>        <lastMessageAt>#<id>
//	  by answerer      GSI4 ORG#<org>#ANSWEREDBY#<user>   <answeredAt>#<id>        (sparse)
//	message            PK MSGS#<org>#<conversation>  SK MSG#<t>#<id>
//	attachment         PK MSGS#<org>#<conversation>  SK ATT#<t>#<messageId>
//	wamid              PK WAMID#<wamid>              SK WAMID   (dedup claim / status routing)
//	saved view         PK VIEWS#<org>#<user>         SK VIEW#<id>
//	idempotency key    PK IDEM#<org>#<user>#<key>    SK IDEM
const timeKey = "2006-01-02T15:04:05.000000000Z"

func tkey(t time.Time) string { return t.UTC().Format(timeKey) }

func orgKey(org string) string { return "ORG#" + org }

func integrationKey(org, id string) table.Key {
	return table.Key{PK: orgKey(org), SK: "INTEG#" + id}
}

func phoneKey(phoneNumberID string) table.Key {
	return table.Key{PK: "PHONE#" + phoneNumberID, SK: "PHONE"}
}

func userKey(org, id string) table.Key { return table.Key{PK: orgKey(org), SK: "USER#" + id} }

const userPrefix = "USER#"

func counterKey(name string) table.Key { return table.Key{PK: "CTR#" + name, SK: "CTR"} }

func recordKey(org string, module records.Module, id string) table.Key {
	return table.Key{PK: "REC#" + org + "#" + string(module) + "#" + id, SK: "REC"}
}

func identityKey(org string, id records.Identity) table.Key {
	return table.Key{PK: "IDENT#" + org + "#" + string(id), SK: "IDENT"}
}

func conversationKey(org, id string) table.Key {
	return table.Key{PK: "CONV#" + org + "#" + id, SK: "CONV"}
}

func conversationsByActivityPK(org string) string { return orgKey(org) + "#CONVS" }
func unansweredPK(org string) string              { return orgKey(org) + "#UNANSWERED" }
func byOwnerPK(org, user string) string           { return orgKey(org) + "#OWNER#" + user }
func byAnswererPK(org, user string) string        { return orgKey(org) + "#ANSWEREDBY#" + user }

func messagesPK(org, conversationID string) string { return "MSGS#" + org + "#" + conversationID }

func messageSK(t time.Time, id string) string { return "MSG#" + tkey(t) + "#" + id }

func attachmentSK(t time.Time, id string) string { return "ATT#" + tkey(t) + "#" + id }

func viewsPK(org, user string) string { return "VIEWS#" + org + "#" + user }

func viewKey(org, user, id string) table.Key {
	return table.Key{PK: viewsPK(org, user), SK: "VIEW#" + id}
}

func wamidKey(wamid string) table.Key { return table.Key{PK: "WAMID#" + wamid, SK: "WAMID"} }

func idempotencyKey(org, user, key string) table.Key {
	return table.Key{PK: "IDEM#" + org + "#" + user + "#" + key, SK: "IDEM"}
}

// How long claims that only guard against redelivery are kept. Meta retries
// for up to 7 days; DynamoDB's TTL deletes some time after expiry.
const (
	dedupTTL       = 10 * 24 * time.Hour
	pendingTTL     = 8 * 24 * time.Hour
	idempotencyTTL = 48 * time.Hour
)

func ttlAt(now time.Time, d time.Duration) int64 { return now.Add(d).Unix() }
