"""cc_proto: compile .proto files with the system protoc (offline).

Bazel 4's proto_library/cc_proto_library need @com_google_protobuf, a
download. This macro runs Debian's `protoc --cpp_out` in a genrule and wraps
the generated files in a cc_library of the same name.

    cc_proto(
        name = "kess_proto",
        srcs = ["kess.proto"],
        deps = ["//common:other_proto"],  # other cc_proto targets
    )

Imports are resolved from the workspace root, so a file imports another as
`import "common/other.proto";`.
"""

def cc_proto(name, srcs, deps = [], visibility = None):
    hdrs = [s[:-len(".proto")] + ".pb.h" for s in srcs]
    ccs = [s[:-len(".proto")] + ".pb.cc" for s in srcs]
    pkg = native.package_name()
    native.genrule(
        name = name + "_genproto",
        srcs = srcs + [d + "_srcs" for d in deps],
        outs = hdrs + ccs,
        cmd = " ".join([
            "protoc",
            "--proto_path=.",
            "--cpp_out=$(GENDIR)",
        ] + ["$(location %s)" % s for s in srcs]),
        message = "protoc " + pkg,
    )
    native.filegroup(
        name = name + "_srcs",
        srcs = srcs + [d + "_srcs" for d in deps],
        visibility = visibility,
    )
    native.cc_library(
        name = name,
        srcs = ccs,
        hdrs = hdrs,
        deps = deps + ["//third_party:protobuf"],
        visibility = visibility,
    )
