package s3

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ACLs: every bucket and object has the one ACL AIS-Go keeps, its owner
// with FULL_CONTROL (access is decided by the access keys and, with
// authentication on, by users' permissions, not by grants). Reading it is
// answered, for the tools that read it before they copy or show an
// object; setting it to that same private ACL is accepted; any other ACL
// is refused with 501 rather than taken and ignored.

// AccessControlPolicy answers GetBucketAcl and GetObjectAcl, and is the
// body PutBucketAcl and PutObjectAcl may send.
type AccessControlPolicy struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ AccessControlPolicy"`
	Owner   Owner    `xml:"Owner"`
	Grants  []Grant  `xml:"AccessControlList>Grant"`
}

// aclRequest is AccessControlPolicy as a request body: it names no
// namespace, so bodies with and without one are accepted.
type aclRequest struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	Grants  []Grant  `xml:"AccessControlList>Grant"`
}

// Grant gives a grantee a permission.
type Grant struct {
	Grantee    Grantee `xml:"Grantee"`
	Permission string  `xml:"Permission"`
}

// Grantee is whom a grant is to; AIS-Go's are canonical users.
type Grantee struct {
	XMLNS       string `xml:"xmlns:xsi,attr,omitempty"`
	Type        string `xml:"xsi:type,attr,omitempty"`
	ID          string `xml:"ID,omitempty"`
	DisplayName string `xml:"DisplayName,omitempty"`
	URI         string `xml:"URI,omitempty"`
	Email       string `xml:"EmailAddress,omitempty"`
}

// privateACL is the ACL of every bucket and object.
func privateACL() AccessControlPolicy {
	o := owner()
	return AccessControlPolicy{Owner: *o, Grants: []Grant{{
		Grantee:    Grantee{XMLNS: "http://www.w3.org/2001/XMLSchema-instance", Type: "CanonicalUser", ID: o.ID, DisplayName: o.DisplayName},
		Permission: "FULL_CONTROL",
	}}}
}

// aclBodyLimit bounds a PutBucketAcl or PutObjectAcl body.
const aclBodyLimit = 64 << 10

// checkPrivateACL accepts a Put*Acl request that sets the private ACL: a
// canned "private" (or none) with no grant headers, and a body, if any,
// that grants only FULL_CONTROL to the owner.
func checkPrivateACL(r *http.Request) error {
	if canned := r.Header.Get("x-amz-acl"); canned != "" && !cannedACL(canned) {
		return badCannedACL(canned)
	}
	if canned := r.Header.Get("x-amz-acl"); canned != "" && !ownerOnlyACL(canned) {
		return notImplemented(fmt.Sprintf("the canned ACL %q (every bucket and object is private)", canned))
	}
	for name := range r.Header {
		if strings.HasPrefix(strings.ToLower(name), "x-amz-grant-") {
			return notImplemented(fmt.Sprintf("an ACL grant (%s; every bucket and object is private)", strings.ToLower(name)))
		}
	}
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, aclBodyLimit+1))
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil // a chunked request with no body
	}
	var policy aclRequest
	if err := DecodeXML(bytes.NewReader(body), aclBodyLimit, &policy); err != nil {
		return err
	}
	o := owner()
	for _, g := range policy.Grants {
		if g.Permission != "FULL_CONTROL" || g.Grantee.ID != o.ID || g.Grantee.URI != "" || g.Grantee.Email != "" {
			return notImplemented(fmt.Sprintf("an ACL granting %q to another grantee (every bucket and object is private)", g.Permission))
		}
	}
	return nil
}

// Tagging is the body of GetObjectTagging and PutObjectTagging.
type Tagging struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ Tagging"`
	// TagSet is written even when empty: clients read it as required.
	TagSet TagSet `xml:"TagSet"`
}

// taggingRequest is Tagging as a request body: it names no namespace, so
// bodies with and without one are accepted.
type taggingRequest struct {
	XMLName xml.Name `xml:"Tagging"`
	TagSet  TagSet   `xml:"TagSet"`
}

// TagSet holds a Tagging's tags.
type TagSet struct {
	Tags []Tag `xml:"Tag"`
}

// Tag is one tag of a Tagging.
type Tag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

// taggingBodyLimit bounds a PutObjectTagging body (10 tags in S3).
const taggingBodyLimit = 64 << 10

// objectTagging answers the object tagging calls as for an object with no
// tags, which every object here is: GetObjectTagging an empty tag set
// (awscli v2 asks it before each multipart copy), PutObjectTagging of no
// tag and DeleteObjectTagging done; tags themselves are not kept (501).
func (s *Server) objectTagging(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	if r.Method == http.MethodPut {
		var tagging taggingRequest
		if err := DecodeXML(r.Body, taggingBodyLimit, &tagging); err != nil {
			return err
		}
		if len(tagging.TagSet.Tags) > 0 {
			return notImplemented("object tags (no object keeps tags)")
		}
	}
	if _, err := s.existenceBackend(r).Head(r.Context(), bucket, key); err != nil {
		return backendError(err, bucket, key)
	}
	switch r.Method {
	case http.MethodPut:
		w.WriteHeader(http.StatusOK)
	case http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
	default:
		WriteXML(w, http.StatusOK, Tagging{})
	}
	return nil
}

// objectACL answers GetObjectAcl with the private ACL and takes a
// PutObjectAcl that sets it, once the object is known to exist.
func (s *Server) objectACL(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	if r.Method == http.MethodPut {
		if err := checkPrivateACL(r); err != nil {
			return err
		}
	}
	if _, err := s.existenceBackend(r).Head(r.Context(), bucket, key); err != nil {
		return backendError(err, bucket, key)
	}
	if r.Method == http.MethodPut {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	WriteXML(w, http.StatusOK, privateACL())
	return nil
}

// existenceBackend is what checks that the object of a tagging or ACL
// call exists: for a GET, the node's (a caller let read it need not also
// be let head it); for a change, the caller's own, so that one let only
// put or delete learns nothing of which keys exist.
func (s *Server) existenceBackend(r *http.Request) Backend {
	if r.Method == http.MethodGet {
		return s.hidden()
	}
	return s.config.Backend
}
