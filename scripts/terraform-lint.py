#!/usr/bin/env python3
"""Parses every Terraform file under terraform/ with python-hcl2 and checks what `terraform
validate` would, as far as it can without the terraform binary (there is none in the package
registries this project uses):

- every .tf file (and terraform.tfvars.example, tests/*.tftest.hcl) parses as HCL2; an error
  names the file;
- every `var.X`, `local.X`, `module.M.O`, resource and data-source reference of a module
  names something declared in that module (and O is an output of M's child module);
- every module call passes only variables the child declares, and all that have no default;
- every variable and output has a description.

Run by scripts/check-terraform.sh with a Python that has python-hcl2. Exit status 1 on any
problem, each printed as `file: message`.
"""

import os
import pathlib
import re
import sys

import hcl2

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "terraform")
META_ARGUMENTS = {"source", "version", "count", "for_each", "depends_on", "providers"}
IDENT = r"[A-Za-z_][A-Za-z0-9_-]*"

problems = []


def unquote(value):
    """python-hcl2 8 keeps the quotes of block labels and string values: drop them."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def labelled(block):
    """{label: body} of one labelled block, without the parser's own marker keys."""
    return {unquote(k): v for k, v in block.items() if not k.startswith("__")}


def problem(path, message):
    problems.append(f"{os.path.relpath(path)}: {message}")


def parse(path):
    try:
        with path.open(encoding="utf-8") as f:
            return hcl2.load(f)
    except Exception as err:  # noqa: BLE001 - any parser error is a failure naming the file
        problem(path, f"HCL parse error: {type(err).__name__}: {err}")
        return None


def code_of(path):
    """The file's text without comment lines, where references in prose would be noise."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if not re.match(r"\s*(#|//)", line))


class Module:
    def __init__(self, directory):
        self.dir = directory
        self.variables = {}  # name -> has default
        self.outputs = set()
        self.locals = set()
        self.resources = set()  # "type.name"
        self.data = set()
        self.calls = {}  # name -> (path, arguments)
        self.files = sorted(directory.glob("*.tf"))
        self.parsed = {}
        for path in self.files:
            doc = parse(path)
            if doc is None:
                continue
            self.parsed[path] = doc
            for block in doc.get("variable", []):
                for name, body in labelled(block).items():
                    self.variables[name] = "default" in body
                    if not unquote(body.get("description", "")):
                        problem(path, f"variable {name} has no description")
            for block in doc.get("output", []):
                for name, body in labelled(block).items():
                    self.outputs.add(name)
                    if not unquote(body.get("description", "")):
                        problem(path, f"output {name} has no description")
            for block in doc.get("locals", []):
                self.locals.update(labelled(block).keys())
            for block in doc.get("resource", []):
                for rtype, named in labelled(block).items():
                    self.resources.update(f"{rtype}.{name}" for name in labelled(named))
            for block in doc.get("data", []):
                for dtype, named in labelled(block).items():
                    self.data.update(f"{dtype}.{name}" for name in labelled(named))
            for block in doc.get("module", []):
                for name, body in labelled(block).items():
                    self.calls[name] = (path, labelled(body))


def check_references(module, children):
    for path in module.parsed:
        code = code_of(path)
        for name in sorted(set(re.findall(rf"(?<![\w.])var\.({IDENT})", code))):
            if name not in module.variables:
                problem(path, f"var.{name} is not declared in its module")
        for name in sorted(set(re.findall(rf"(?<![\w.])local\.({IDENT})", code))):
            if name not in module.locals:
                problem(path, f"local.{name} is not defined in its module")
        for ref in sorted(set(re.findall(rf"(?<![\w.])data\.(\w+\.{IDENT})", code))):
            if ref not in module.data:
                problem(path, f"data.{ref} is not declared in its module")
        for ref in sorted(set(re.findall(rf"(?<![\w.])((?:aws|random)_\w+\.{IDENT})", code))):
            if ref not in module.resources:
                problem(path, f"{ref} is not declared in its module")
        refs = re.findall(rf"(?<![\w.])module\.({IDENT})(?:\[[^\]]*\])?\.({IDENT})", code)
        for call, output in sorted(set(refs)):
            if call not in module.calls:
                problem(path, f"module.{call} is not called in its module")
            elif call in children and output not in children[call].outputs:
                problem(path, f"module.{call}.{output}: {os.path.relpath(children[call].dir)} has no such output")


def main():
    if not ROOT.is_dir():
        print(f"{ROOT}: no such directory", file=sys.stderr)
        return 1
    for other in sorted([*ROOT.rglob("*.tfvars.example"), *ROOT.rglob("*.tftest.hcl")]):
        parse(other)

    modules = {}

    def load(directory):
        directory = directory.resolve()
        if directory not in modules:
            modules[directory] = Module(directory)
            for name, (path, body) in modules[directory].calls.items():
                source = unquote(body.get("source", ""))
                if source.startswith("./") or source.startswith("../"):
                    load(directory / source)
                else:
                    problem(path, f"module {name}: only local sources are checked ({source})")
        return modules[directory]

    load(ROOT)
    for directory in sorted(set(p.parent for p in ROOT.rglob("*.tf"))):
        if ".terraform" not in directory.parts:
            load(directory)

    for module in modules.values():
        children = {}
        for name, (path, body) in module.calls.items():
            source = unquote(body.get("source", ""))
            child = modules.get((module.dir / source).resolve())
            if child is None:
                continue
            children[name] = child
            passed = set(body) - META_ARGUMENTS
            for argument in sorted(passed - set(child.variables)):
                problem(path, f"module {name}: {os.path.relpath(child.dir)} has no variable {argument}")
            required = {v for v, has_default in child.variables.items() if not has_default}
            for variable in sorted(required - passed):
                problem(path, f"module {name}: required variable {variable} is not passed")
        check_references(module, children)

    files = sum(len(m.files) for m in modules.values())
    if problems:
        for line in problems:
            print(line)
        print(f"terraform-lint: {len(problems)} problem(s) in {files} files")
        return 1
    print(f"terraform-lint: {files} .tf files in {len(modules)} modules parse and cross-check")
    return 0


if __name__ == "__main__":
    sys.exit(main())
