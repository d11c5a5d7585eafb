package s3

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Namespace is the XML namespace of S3's answers.
const Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

// TimeFormat is how S3 writes times in XML: RFC 3339 in UTC with
// milliseconds, which some SDKs parse with a fixed layout.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// FormatTime writes t in TimeFormat.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// StorageClass is the only storage class this store has.
const StorageClass = "STANDARD"

// Limits of the request bodies S3 defines.
const (
	// MaxDeleteObjects is the most keys one multi-object delete names.
	MaxDeleteObjects = 1000
	// DeleteBodyLimit fits 1000 keys of the longest length (1024 bytes)
	// with their XML around them.
	DeleteBodyLimit = 2 << 20
	// MaxParts is the most parts of a multipart upload.
	MaxParts = 10000
	// CompleteBodyLimit fits 10000 parts with their ETags and checksums.
	CompleteBodyLimit = 4 << 20
)

// Owner is the owner of a bucket or an object, and the initiator of an
// upload.
type Owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName,omitempty"`
}

// ListAllMyBucketsResult answers ListBuckets.
type ListAllMyBucketsResult struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListAllMyBucketsResult"`
	Owner   Owner    `xml:"Owner"`
	Buckets []Bucket `xml:"Buckets>Bucket"`
}

// Bucket is one bucket of ListAllMyBucketsResult.
type Bucket struct {
	Name         string `xml:"Name"`
	CreationDate string `xml:"CreationDate"` // TimeFormat
}

// Object is one key of a listing.
type Object struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"` // TimeFormat
	ETag         string `xml:"ETag,omitempty"`
	Size         int64  `xml:"Size"`
	StorageClass string `xml:"StorageClass"`
	Owner        *Owner `xml:"Owner,omitempty"`
}

// CommonPrefix is the roll-up of the keys that share a prefix up to the
// delimiter.
type CommonPrefix struct {
	Prefix string `xml:"Prefix"`
}

// ListBucketResult answers ListObjects (v1). Prefix and Marker are sent
// even when empty, as S3 does.
type ListBucketResult struct {
	XMLName        xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name           string         `xml:"Name"`
	Prefix         string         `xml:"Prefix"`
	Marker         string         `xml:"Marker"`
	NextMarker     string         `xml:"NextMarker,omitempty"`
	MaxKeys        int            `xml:"MaxKeys"`
	Delimiter      string         `xml:"Delimiter,omitempty"`
	IsTruncated    bool           `xml:"IsTruncated"`
	Contents       []Object       `xml:"Contents"`
	CommonPrefixes []CommonPrefix `xml:"CommonPrefixes"`
	EncodingType   string         `xml:"EncodingType,omitempty"`
}

// ListBucketResultV2 answers ListObjectsV2.
type ListBucketResultV2 struct {
	XMLName               xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	StartAfter            string         `xml:"StartAfter,omitempty"`
	ContinuationToken     *string        `xml:"ContinuationToken,omitempty"` // echoed when given, even empty
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	KeyCount              int            `xml:"KeyCount"`
	MaxKeys               int            `xml:"MaxKeys"`
	Delimiter             string         `xml:"Delimiter,omitempty"`
	IsTruncated           bool           `xml:"IsTruncated"`
	Contents              []Object       `xml:"Contents"`
	CommonPrefixes        []CommonPrefix `xml:"CommonPrefixes"`
	EncodingType          string         `xml:"EncodingType,omitempty"`
}

// LocationConstraint answers GetBucketLocation; empty means us-east-1.
type LocationConstraint struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ LocationConstraint"`
	Location string   `xml:",chardata"`
}

// Delete is the request of DeleteObjects. Request types name no
// namespace so that bodies with and without one are accepted.
type Delete struct {
	XMLName xml.Name           `xml:"Delete"`
	Quiet   bool               `xml:"Quiet"`
	Objects []ObjectIdentifier `xml:"Object"`
}

// ObjectIdentifier names one object of a Delete.
type ObjectIdentifier struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId,omitempty"`
	// The conditions of a conditional delete, which is not served.
	ETag             string `xml:"ETag,omitempty"`
	LastModifiedTime string `xml:"LastModifiedTime,omitempty"`
	Size             string `xml:"Size,omitempty"`
}

func (d *Delete) bound() (string, int) { return "Object", MaxDeleteObjects }

// validate: S3 refuses an empty list and more than 1000 keys as
// MalformedXML.
func (d *Delete) validate() error {
	if len(d.Objects) == 0 {
		return ErrMalformedXML.WithMessage("the Delete request names no Object")
	}
	if len(d.Objects) > MaxDeleteObjects {
		return ErrMalformedXML.WithMessage("the Delete request names %d objects, more than the %d allowed", len(d.Objects), MaxDeleteObjects)
	}
	return nil
}

// DeleteResult answers DeleteObjects.
type DeleteResult struct {
	XMLName xml.Name      `xml:"http://s3.amazonaws.com/doc/2006-03-01/ DeleteResult"`
	Deleted []Deleted     `xml:"Deleted"`
	Errors  []DeleteError `xml:"Error"`
}

// Deleted is a key that DeleteObjects removed (or found absent).
type Deleted struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId,omitempty"`
}

// DeleteError is a key that DeleteObjects could not remove.
type DeleteError struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId,omitempty"`
	Code      string `xml:"Code"`
	Message   string `xml:"Message"`
}

// CopyObjectResult answers CopyObject.
type CopyObjectResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyObjectResult"`
	LastModified string   `xml:"LastModified"` // TimeFormat
	ETag         string   `xml:"ETag"`
}

// CopyPartResult answers UploadPartCopy.
type CopyPartResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyPartResult"`
	LastModified string   `xml:"LastModified"` // TimeFormat
	ETag         string   `xml:"ETag"`
}

// InitiateMultipartUploadResult answers CreateMultipartUpload.
type InitiateMultipartUploadResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ InitiateMultipartUploadResult"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
}

// CompleteMultipartUpload is the request of CompleteMultipartUpload.
type CompleteMultipartUpload struct {
	XMLName xml.Name        `xml:"CompleteMultipartUpload"`
	Parts   []CompletedPart `xml:"Part"`
}

// CompletedPart is one part of a CompleteMultipartUpload.
type CompletedPart struct {
	PartNumber int    `xml:"PartNumber"`
	ETag       string `xml:"ETag"`
}

func (c *CompleteMultipartUpload) bound() (string, int) { return "Part", MaxParts }

// validate checks what needs no upload at hand: some parts, numbers in
// 1..10000, strictly ascending (S3's InvalidPartOrder).
func (c *CompleteMultipartUpload) validate() error {
	if len(c.Parts) == 0 {
		return ErrMalformedXML.WithMessage("the CompleteMultipartUpload request names no Part")
	}
	if len(c.Parts) > MaxParts {
		return ErrMalformedXML.WithMessage("the CompleteMultipartUpload request names %d parts, more than the %d allowed", len(c.Parts), MaxParts)
	}
	for i, part := range c.Parts {
		if part.PartNumber < 1 || part.PartNumber > MaxParts {
			return ErrInvalidArgument.WithMessage("part number %d is not between 1 and %d", part.PartNumber, MaxParts)
		}
		if i > 0 && part.PartNumber <= c.Parts[i-1].PartNumber {
			return ErrInvalidPartOrder.WithMessage("part %d comes after part %d: the parts must be in strictly ascending order", part.PartNumber, c.Parts[i-1].PartNumber)
		}
	}
	return nil
}

// CompleteMultipartUploadResult answers CompleteMultipartUpload.
type CompleteMultipartUploadResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CompleteMultipartUploadResult"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
}

// ListPartsResult answers ListParts.
type ListPartsResult struct {
	XMLName              xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListPartsResult"`
	Bucket               string   `xml:"Bucket"`
	Key                  string   `xml:"Key"`
	UploadID             string   `xml:"UploadId"`
	Initiator            *Owner   `xml:"Initiator,omitempty"`
	Owner                *Owner   `xml:"Owner,omitempty"`
	StorageClass         string   `xml:"StorageClass"`
	PartNumberMarker     int      `xml:"PartNumberMarker"`
	NextPartNumberMarker int      `xml:"NextPartNumberMarker"`
	MaxParts             int      `xml:"MaxParts"`
	IsTruncated          bool     `xml:"IsTruncated"`
	Parts                []Part   `xml:"Part"`
}

// Part is one uploaded part of ListPartsResult.
type Part struct {
	PartNumber   int    `xml:"PartNumber"`
	LastModified string `xml:"LastModified"` // TimeFormat
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
}

// ListMultipartUploadsResult answers ListMultipartUploads.
type ListMultipartUploadsResult struct {
	XMLName            xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListMultipartUploadsResult"`
	Bucket             string         `xml:"Bucket"`
	KeyMarker          string         `xml:"KeyMarker"`
	UploadIDMarker     string         `xml:"UploadIdMarker"`
	NextKeyMarker      string         `xml:"NextKeyMarker,omitempty"`
	NextUploadIDMarker string         `xml:"NextUploadIdMarker,omitempty"`
	Prefix             string         `xml:"Prefix,omitempty"`
	Delimiter          string         `xml:"Delimiter,omitempty"`
	MaxUploads         int            `xml:"MaxUploads"`
	IsTruncated        bool           `xml:"IsTruncated"`
	Uploads            []Upload       `xml:"Upload"`
	CommonPrefixes     []CommonPrefix `xml:"CommonPrefixes"`
	EncodingType       string         `xml:"EncodingType,omitempty"`
}

// Upload is one multipart upload in progress.
type Upload struct {
	Key          string `xml:"Key"`
	UploadID     string `xml:"UploadId"`
	Initiator    *Owner `xml:"Initiator,omitempty"`
	Owner        *Owner `xml:"Owner,omitempty"`
	StorageClass string `xml:"StorageClass"`
	Initiated    string `xml:"Initiated"` // TimeFormat
}

// WriteXML answers with status and v in XML, after the XML header. The
// body is encoded before anything is sent, so that a value that cannot be
// encoded (a bug) still gets a well-formed InternalError.
func WriteXML(w http.ResponseWriter, status int, v any) {
	body, err := xml.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body, _ = xml.Marshal(errorBody{Code: ErrInternalError.Code, Message: "cannot encode the answer: " + err.Error(), RequestID: w.Header().Get(HeaderRequestID)})
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(xml.Header)+len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, xml.Header)
	_, _ = w.Write(body)
}

// DecodeXML reads one XML document of at most limit (> 0) bytes from r
// into v.
// A longer body is MaxMessageLengthExceeded; bad XML, another root
// element or content after the root is MalformedXML; a Delete or a
// CompleteMultipartUpload is also checked against S3's limits (more than
// 1000 keys is MalformedXML, as in S3). A read error is returned as is.
func DecodeXML(r io.Reader, limit int64, v any) error {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return err
	}
	if int64(len(body)) > limit {
		return ErrMaxMessageLengthExceeded.WithMessage("the XML body is longer than %d bytes", limit)
	}
	if bounded, ok := v.(interface{ bound() (string, int) }); ok {
		item, most := bounded.bound()
		if err := countItems(body, item, most); err != nil {
			return err
		}
	}
	decoder := xml.NewDecoder(bytes.NewReader(body))
	if err := decoder.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return ErrMalformedXML.WithMessage("the XML body is empty")
		}
		return ErrMalformedXML.WithMessage("the XML body is not valid: %s", err.Error())
	}
	// Only blanks, comments and processing instructions may follow.
	for {
		token, err := decoder.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return ErrMalformedXML.WithMessage("the XML body is not valid after its root element: %s", err.Error())
		}
		switch token := token.(type) {
		case xml.Comment, xml.ProcInst:
		case xml.CharData:
			if len(bytes.TrimSpace(token)) != 0 {
				return ErrMalformedXML.WithMessage("the XML body has text after its root element")
			}
		default:
			return ErrMalformedXML.WithMessage("the XML body has more than one root element")
		}
	}
	if checked, ok := v.(interface{ validate() error }); ok {
		return checked.validate()
	}
	return nil
}

// countItems refuses a body whose root holds more than max elements item
// before it is decoded: a body of empty ones ("<Object/>", 9 bytes each)
// would be decoded into structs of ten times its size first. Bad XML is
// left to the decoder to name.
func countItems(body []byte, item string, max int) error {
	tokens := xml.NewDecoder(bytes.NewReader(body))
	depth, count := 0, 0
	for {
		token, err := tokens.RawToken()
		if err != nil {
			return nil
		}
		switch token := token.(type) {
		case xml.StartElement:
			if depth == 1 && token.Name.Local == item {
				if count++; count > max {
					return ErrMalformedXML.WithMessage("the request names more than %d elements %s, the most allowed", max, item)
				}
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
}
