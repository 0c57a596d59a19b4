// Package paginator scans page by page.
package paginator

import (
	db "github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

func Pages(c db.ScanAPIClient) *db.ScanPaginator { // want ScanAPIClient, ScanPaginator
	return db.NewScanPaginator(c, nil) // want NewScanPaginator
}
