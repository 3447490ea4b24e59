package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
)

// rawClient sends one prebuilt HTTP/1.1 request, again and again, over
// one keep-alive connection (TLS when the URL says https), and reads each
// answer with as little work as it takes: the status line, the headers
// that frame the body, the body discarded. It is the load generator's
// client when --client raw (the default): it runs on the same cores as
// the server, and net/http's client spends several times its CPU per
// request. Anything unexpected closes the connection; the next request
// dials again.
type rawClient struct {
	addr string
	tls  *tls.Config // nil for http
	req  []byte
	conn net.Conn
	br   *bufio.Reader
}

func newRawClient(rawURL, form string, tc *tls.Config) (*rawClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	c := &rawClient{addr: u.Host}
	if u.Scheme == "https" {
		c.tls = tc
	}
	c.req = []byte("POST " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " + strconv.Itoa(len(form)) + "\r\n\r\n" + form)
	return c, nil
}

func (c *rawClient) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.br = nil, nil
	}
}

// do sends the request and returns the answer's status code.
func (c *rawClient) do() (int, error) {
	if c.conn == nil {
		var conn net.Conn
		var err error
		if c.tls != nil {
			conn, err = tls.Dial("tcp", c.addr, c.tls)
		} else {
			conn, err = net.Dial("tcp", c.addr)
		}
		if err != nil {
			return 0, err
		}
		c.conn, c.br = conn, bufio.NewReaderSize(conn, 8192)
	}
	code, err := c.roundTrip()
	if err != nil {
		c.close()
	}
	return code, err
}

var (
	crlf          = []byte("\r\n")
	hdrLength     = []byte("content-length:")
	hdrChunked    = []byte("transfer-encoding:")
	hdrConnection = []byte("connection:")
)

func (c *rawClient) roundTrip() (int, error) {
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length, chunked, closing := -1, false, false
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		line = bytes.TrimSuffix(line, crlf)
		if len(line) == 0 {
			break
		}
		lower := bytes.ToLower(line)
		switch {
		case bytes.HasPrefix(lower, hdrLength):
			if length, err = strconv.Atoi(string(bytes.TrimSpace(line[len(hdrLength):]))); err != nil {
				return 0, err
			}
		case bytes.HasPrefix(lower, hdrChunked):
			chunked = bytes.Contains(lower, []byte("chunked"))
		case bytes.HasPrefix(lower, hdrConnection):
			closing = bytes.Contains(lower, []byte("close"))
		}
	}
	switch {
	case chunked:
		err = c.discardChunks()
	case length >= 0:
		_, err = c.br.Discard(length)
	default:
		return 0, errors.New("an answer without a length")
	}
	if err == nil && closing {
		c.close()
	}
	return code, err
}

func (c *rawClient) discardChunks() error {
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.SplitN(line, []byte(";"), 2)[0])), 16, 64)
		if err != nil {
			return err
		}
		if n == 0 {
			_, err := c.br.ReadSlice('\n') // the final CRLF (no trailers are sent)
			return err
		}
		if _, err := io.CopyN(io.Discard, c.br, n+2); err != nil {
			return err
		}
	}
}
