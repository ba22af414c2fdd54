"""kess_deb: one Debian binary package, built by deploy/build_deb.sh.

    kess_deb(
        name = "kess-agent",             # makes kess-agent.deb
        summary = "...",                 # the Description's first line
        role = "agent",                  # @ROLE@ in templates and scripts
        binaries = {"//agent": "/usr/sbin/kess-agent"},
        files = {":agent_flags": "/etc/kess/agent.flags:0644"},
        templates = {"maint/README.Debian": "/usr/share/doc/kess-agent/README.Debian:0644"},
        maint = {"maint/daemon.postinst": "postinst"},
        depends = "adduser",
        architecture = "all",            # default: the build machine's
    )

The long description is description/<name>. The version is //:VERSION,
which must equal the newest entry of deploy/changelog. No rules_pkg: the
genrule runs dpkg-deb (reproducible: see build_deb.sh).
"""

# The arguments, with `loc` the path expansion: $(location) for the
# build, $(rootpath) for <name>_args (the same call from runfiles,
# which deploy_test.sh repeats to check that the bytes are the same).
def _args(loc, name, summary, section, depends, role, binaries, files, templates, maint, architecture):
    args = [
        "--package " + name,
        "--version-file $(%s //:VERSION)" % loc,
        "--changelog $(%s changelog)" % loc,
        "--copyright $(%s copyright)" % loc,
        "--summary '%s'" % summary,
        "--description-file $(%s description/%s)" % (loc, name),
        "--section " + section,
    ]
    if depends:
        args.append("--depends '%s'" % depends)
    if role:
        args.append("--role " + role)
    if architecture:
        args.append("--architecture " + architecture)
    for label, dest in binaries.items():
        args.append("--binary $(%s %s):%s" % (loc, label, dest))
    for label, dest in files.items():
        args.append("--file $(%s %s):%s" % (loc, label, dest))
    for label, dest in templates.items():
        args.append("--template $(%s %s):%s" % (loc, label, dest))
    for label, script in maint.items():
        args.append("--maint $(%s %s):%s" % (loc, label, script))
    return args

def kess_deb(
        name,
        summary,
        binaries = {},
        files = {},
        templates = {},
        maint = {},
        role = "",
        depends = "",
        section = "admin",
        architecture = "",
        **kwargs):
    srcs = [
        "//:VERSION",
        "changelog",
        "copyright",
        "description/" + name,
    ]
    for d in [binaries, files, templates, maint]:
        srcs.extend([label for label in d.keys() if label not in srcs])

    native.genrule(
        name = name,
        srcs = srcs,
        outs = [name + ".deb"],
        tools = ["build_deb.sh"],
        cmd = "$(location build_deb.sh) --out $@ " + " ".join(_args("location", name, summary, section, depends, role, binaries, files, templates, maint, architecture)),
        **kwargs
    )

    # The inputs, for the test that builds the package again.
    native.filegroup(
        name = name + "_inputs",
        srcs = srcs + ["build_deb.sh"],
        testonly = True,
    )

    # One argument per line, runfiles paths.
    native.genrule(
        name = name + "_args",
        srcs = srcs,
        outs = [name + ".args"],
        cmd = "printf '%s\\n' " + " ".join(_args("rootpath", name, summary, section, depends, role, binaries, files, templates, maint, architecture)) + " > $@",
        testonly = True,
    )
