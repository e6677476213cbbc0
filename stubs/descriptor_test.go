package stubs

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// TestRawDescriptor checks that the descriptor embedded in generated code
// describes the file completely: parsed back and linked against its
// imports it yields the same messages, fields and services, it has no
// source info, and it is the same bytes every time.
func TestRawDescriptor(t *testing.T) {
	fds, err := Parse([]string{"testdata/feature.proto", "testdata/common.proto"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	files := new(protoregistry.Files)
	// The well-known types the schemas import, from protobuf-go.
	for _, f := range fds {
		for i := range f.Imports().Len() {
			fd := f.Imports().Get(i).FileDescriptor
			if !strings.HasPrefix(fd.Path(), "google/protobuf/") {
				continue
			}
			if _, err := files.FindFileByPath(fd.Path()); err == nil {
				continue
			}
			if err := files.RegisterFile(fd); err != nil {
				t.Fatal(err)
			}
		}
	}
	// common.proto first: feature.proto imports it.
	for _, i := range []int{1, 0} {
		fd := fds[i]
		raw, err := rawDescriptor(fd)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := rawDescriptor(fd)
		if !bytes.Equal(raw, again) {
			t.Fatalf("%s: two serializations differ", fd.Path())
		}
		var fdp descriptorpb.FileDescriptorProto
		if err := proto.Unmarshal(raw, &fdp); err != nil {
			t.Fatal(err)
		}
		if fdp.SourceCodeInfo != nil {
			t.Errorf("%s: the embedded descriptor keeps source code info", fd.Path())
		}
		back, err := protodesc.NewFile(&fdp, files)
		if err != nil {
			t.Fatalf("%s: the embedded descriptor does not link: %v", fd.Path(), err)
		}
		if err := files.RegisterFile(back); err != nil {
			t.Fatal(err)
		}
		want := protodesc.ToFileDescriptorProto(fd)
		want.SourceCodeInfo = nil
		// Custom options come back from bytes as unknown fields, as in
		// got: compare with want as it reads back from its own bytes.
		wantBytes, err := proto.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		want = new(descriptorpb.FileDescriptorProto)
		if err := proto.Unmarshal(wantBytes, want); err != nil {
			t.Fatal(err)
		}
		if got := protodesc.ToFileDescriptorProto(back); !proto.Equal(got, want) {
			t.Errorf("%s: the embedded descriptor differs from the schema's:\ngot  %v\nwant %v", fd.Path(), got, want)
		}
	}
	if _, err := files.FindDescriptorByName("parley.feature.Feature.Echo"); err != nil {
		t.Errorf("the linked descriptors lack the Echo method: %v", err)
	}
}

func TestDescriptorVar(t *testing.T) {
	for in, want := range map[string]string{
		"chat.proto":           "file_chat_proto_rawDesc",
		"acme/v1/item-x.proto": "file_acme_v1_item_x_proto_rawDesc",
	} {
		if got := descriptorVar(in); got != want {
			t.Errorf("descriptorVar(%q) = %q, want %q", in, got, want)
		}
	}
}
