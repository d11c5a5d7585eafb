package s3

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"time"
)

// Long writes (CompleteMultipartUpload, CopyObject, UploadPartCopy) copy
// every byte of an object before they can answer. As S3 does, their 200
// begins early and white space follows until the result: a client's read
// timeout (botocore's 60 s) would otherwise cut them, and its retry would
// start the copy over.
var (
	slowAnswerAfter    = 2 * time.Second
	slowAnswerInterval = 5 * time.Second
)

// answerSlowly runs work and answers with its result as XML, or returns
// its error. Work that outlasts slowAnswerAfter gets its 200 begun, white
// space every slowAnswerInterval, then its result or its error as an
// <Error> document in the 200 (which the SDKs read as the error, as from
// S3). Work runs on when its client goes: the client's retry finds it
// done. At most maxSlowWrites run at once.
func (s *Server) answerSlowly(w http.ResponseWriter, r *http.Request, work func(ctx context.Context) (any, error)) error {
	select {
	case s.slowWrites <- struct{}{}:
	default:
		// Work a client can start and leave: bounded, or requests sent
		// and dropped at once would pile up copies.
		return ErrSlowDown.WithMessage("this gateway runs %d copies and Completes, the most it runs at once: try again shortly", cap(s.slowWrites))
	}
	type outcome struct {
		answer any
		err    error
	}
	done := make(chan outcome, 1)
	go func() {
		defer func() { <-s.slowWrites }()
		answer, err := work(context.WithoutCancel(r.Context()))
		done <- outcome{answer, err}
	}()
	wait := time.NewTimer(slowAnswerAfter)
	defer wait.Stop()
	select {
	case o := <-done:
		if o.err != nil {
			return o.err
		}
		WriteXML(w, http.StatusOK, o.answer)
		return nil
	case <-wait.C:
	}
	control := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, xml.Header)
	control.Flush()
	tick := time.NewTicker(slowAnswerInterval)
	defer tick.Stop()
	for {
		select {
		case o := <-done:
			answer := o.answer
			if o.err != nil {
				var status int
				status, answer = errorDocument(r, s.answerable(o.err), w.Header().Get(HeaderRequestID))
				// Metrics count the error the document tells, not the
				// 200 that carries it.
				recordOutcome(w, status)
			}
			data, err := xml.Marshal(answer)
			if err != nil {
				data, _ = xml.Marshal(errorBody{Code: ErrInternalError.Code, Message: "cannot encode the answer: " + err.Error(), RequestID: w.Header().Get(HeaderRequestID)})
			}
			w.Write(data)
			return nil
		case <-tick.C:
			// A client gone makes these fail: the work still ends.
			io.WriteString(w, " ")
			control.Flush()
		}
	}
}

// answerable is err as the handler answers it: an S3 error, redacted.
func (s *Server) answerable(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		err = backendError(err, "", "")
	}
	return s.redacted(err)
}

// recordOutcome tells the statusRecorder beneath w, if any, the status of
// an answer whose own went out before it was known.
func recordOutcome(w http.ResponseWriter, status int) {
	for {
		if recorder, ok := w.(*statusRecorder); ok {
			recorder.status = status
			return
		}
		unwrapper, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = unwrapper.Unwrap()
	}
}
