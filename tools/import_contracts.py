"""An import-linter contract: no module imports itself back, through any number of others.

The built-in contracts check layers between packages; a cycle between two modules of one
layer (two services importing each other, often from inside a function) slips past them.
This one looks at every module of the package, imports inside functions included.
"""

from __future__ import annotations

import itertools

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def import_cycles(graph: ImportGraph, modules: set[str]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    imports = {m: sorted(graph.find_modules_directly_imported_by(m) & modules) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            module, next_child = work.pop()
            if next_child == 0:
                index[module] = low[module] = len(index)
                stack.append(module)
                on_stack.add(module)
            children = imports[module]
            for position in range(next_child, len(children)):
                child = children[position]
                if child not in index:
                    work.append((module, position + 1))
                    work.append((child, 0))
                    break
                if child in on_stack:
                    low[module] = min(low[module], index[child])
            else:
                if low[module] == index[module]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == module:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[module])
    return cycles


def shortest_cycle(graph: ImportGraph, component: list[str]) -> list[str]:
    """The shortest round trip inside one strongly connected component, as a module list."""
    best: list[str] = []
    for importer in component:
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if imported not in component:
                continue
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back and (not best or len(back) + 1 < len(best)):
                best = [importer, *back]
    return best


class AcyclicModulesContract(Contract):
    type_name = "acyclic_modules"

    package = fields.ModuleField()

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        package = self.package.name  # type: ignore[attr-defined]
        modules = {package, *graph.find_descendants(package)}
        cycles = []
        for component in import_cycles(graph, modules):
            cycle = shortest_cycle(graph, component)
            cycles.append(
                {
                    "modules": component,
                    "steps": [
                        (
                            a,
                            b,
                            [
                                d["line_number"]
                                for d in graph.get_import_details(importer=a, imported=b)
                            ],
                        )
                        for a, b in itertools.pairwise(cycle)
                    ],
                }
            )
        return ContractCheck(kept=not cycles, metadata={"cycles": cycles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in check.metadata["cycles"]:
            output.print_error(
                f"{len(cycle['modules'])} modules import each other; the shortest round trip:"
            )
            for importer, imported, lines in cycle["steps"]:
                output.indent_cursor()
                where = ", ".join(f"l.{line}" for line in lines)
                output.print_error(f"{importer} -> {imported} ({where})", bold=False)
            output.new_line()
