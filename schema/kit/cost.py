"""The query cost limit: how many objects an operation may produce, estimated before it runs.

The estimate walks the parsed and validated document the way execution would (fragments, inline
fragments, `@skip`/`@include`, aliases merged by response key) and counts every object-typed
field once per object it may return, multiplied through the nesting:

- a connection field (one with a `first` argument whose type has `edges`/`nodes`) gives its
  `edges` and `nodes` `first` items: the argument's value, its variable's value, the variable's
  default, or the schema's default;
- `nodes(ids:)` gives as many items as there are ids;
- any other list of objects (`Customer.members`, `Product.prices`, ...) is assumed to hold
  `assumed_list_size` items;
- scalars, enums and `__typename` cost nothing; introspection (`__schema`, `__type`) costs 1.

Where a field's type is abstract, the most expensive concrete type counts. The cost depends on
the document and on a few variable values only (`first`, `ids`, `@skip`/`@include` conditions),
so it is cached per document text, operation and those values: a repeated query costs one dict
lookup. An operation over the limit is answered with one top-level error, `QUERY_TOO_COSTLY`,
naming the cost and the limit; nothing is executed, so no SQL runs.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterator

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
    value_from_ast_untyped,
)
from graphql.execution.execute import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension

_INTROSPECTION_COST = 1
_CACHE_SIZE = 512
_CACHED_QUERY_LENGTH = 10_000  # longer documents are estimated every time: the cache stays small
# A walk visiting more fields than this is refused whatever its cost (a fragment bomb with
# `first: 0` would otherwise be free to estimate and expensive to walk).
_MAX_VISITS = 20_000


class QueryTooCostly(GraphQLError):
    """A top-level error: the operation would cost more than the limit; nothing ran."""

    def __init__(self, cost: int, max_cost: int) -> None:
        super().__init__(
            f"This operation's estimated cost is {cost}, above the limit of {max_cost}: ask for smaller pages "
            "(`first`), fewer nested lists or fewer aliases, or split it into several requests",
            extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "maxCost": max_cost},
        )


class _Walk:
    """One estimate: the variables it read are recorded so the result can be cached."""

    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode], operation: OperationDefinitionNode,
                 variables: dict[str, Any], list_size: int, default_page_size: int) -> None:
        self.schema, self.fragments, self.variables = schema, fragments, variables
        self.list_size, self.default_page_size = list_size, default_page_size
        self.variable_defaults = {
            d.variable.name.value: value_from_ast_untyped(d.default_value) if d.default_value is not None else None
            for d in operation.variable_definitions or ()
        }
        self.read: set[str] = set()
        self.visits = 0

    # -- values ----------------------------------------------------------------------------

    def value(self, node: Any) -> Any:
        if isinstance(node, VariableNode):
            name = node.name.value
            self.read.add(name)
            if name in self.variables and self.variables[name] is not None:
                return self.variables[name]
            return self.variable_defaults.get(name)
        return value_from_ast_untyped(node, self.variables)

    def argument(self, field: FieldNode, name: str) -> Any:
        for argument in field.arguments or ():
            if argument.name.value == name:
                if isinstance(argument.value, VariableNode):
                    return self.value(argument.value)
                # a list literal may hold variables: read them (their count is what matters)
                for variable in _variables_in(argument.value):
                    self.read.add(variable)
                return value_from_ast_untyped(argument.value, self.variables)
        return None

    def included(self, node: Any) -> bool:
        for directive in node.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                continue
            condition = next((a.value for a in directive.arguments if a.name.value == "if"), None)
            value = bool(self.value(condition)) if condition is not None else False
            if (name == "skip" and value) or (name == "include" and not value):
                return False
        return True

    # -- fields ----------------------------------------------------------------------------

    def collect(self, selection_sets: list[SelectionSetNode], runtime_type: GraphQLObjectType) -> dict[str, list[FieldNode]]:
        fields: dict[str, list[FieldNode]] = {}
        seen: set[str] = set()
        for selection_set in selection_sets:
            self._collect(selection_set, runtime_type, fields, seen)
        return fields

    def _collect(self, selection_set: SelectionSetNode, runtime_type: GraphQLObjectType, fields: dict, seen: set[str]) -> None:
        for selection in selection_set.selections:
            if not self.included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                fields.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if self.matches(selection.type_condition, runtime_type):
                    self._collect(selection.selection_set, runtime_type, fields, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if name in seen or fragment is None:
                    continue
                seen.add(name)
                if self.matches(fragment.type_condition, runtime_type):
                    self._collect(fragment.selection_set, runtime_type, fields, seen)

    def matches(self, condition: Any, runtime_type: GraphQLObjectType) -> bool:
        if condition is None:
            return True
        conditional = self.schema.get_type(condition.name.value)
        if conditional is runtime_type:
            return True
        return is_abstract_type(conditional) and self.schema.is_sub_type(conditional, runtime_type)

    def cost(self, selection_sets: list[SelectionSetNode], parent: Any, multiplier: int, page_size: int | None) -> int:
        """The cost of these (merged) selection sets on `multiplier` objects of type `parent`."""
        runtime_types = self.schema.get_possible_types(parent) if is_abstract_type(parent) else [parent]
        best = 0
        for runtime_type in runtime_types:
            total = 0
            for key, nodes in self.collect(selection_sets, runtime_type).items():
                self.visits += 1
                if self.visits > _MAX_VISITS:
                    raise _TooManyVisits(total)
                name = nodes[0].name.value
                if name == "__typename":
                    continue
                if name in ("__schema", "__type"):
                    total += _INTROSPECTION_COST
                    continue
                definition = runtime_type.fields.get(name)
                if definition is None:
                    continue
                field_type, is_list = definition.type, False
                while isinstance(field_type, (GraphQLNonNull, GraphQLList)):
                    is_list = is_list or isinstance(field_type, GraphQLList)
                    field_type = field_type.of_type
                if is_leaf_type(field_type):
                    continue
                size = 1
                if is_list:
                    size = self.list_length(nodes[0], name, page_size)
                count = multiplier * size
                child_page_size = self.page_size(nodes[0], definition, field_type)
                children = [node.selection_set for node in nodes if node.selection_set is not None]
                total += count + self.cost(children, get_named_type(field_type), count, child_page_size)
            best = max(best, total)
        return best

    def list_length(self, node: FieldNode, name: str, page_size: int | None) -> int:
        if page_size is not None and name in ("edges", "nodes"):
            return page_size
        ids = self.argument(node, "ids")
        if isinstance(ids, (list, tuple)):
            return len(ids)
        return self.list_size

    def page_size(self, node: FieldNode, definition: Any, field_type: Any) -> int | None:
        """`first` of a connection field, else None."""
        if "first" not in definition.args or not isinstance(field_type, GraphQLObjectType):
            return None
        if "edges" not in field_type.fields and "nodes" not in field_type.fields:
            return None
        first = self.argument(node, "first")
        if first is None:
            first = definition.args["first"].default_value
        if not isinstance(first, int) or isinstance(first, bool):
            first = self.default_page_size
        return max(first, 0)


class _TooManyVisits(Exception):
    def __init__(self, partial: int) -> None:
        self.partial = partial


def _variables_in(node: Any) -> Iterator[str]:
    if isinstance(node, VariableNode):
        yield node.name.value
    for child in getattr(node, "values", None) or ():
        yield from _variables_in(child)


def _frozen(value: Any) -> Any:
    """The part of a variable's value the cost can depend on, hashable."""
    if isinstance(value, (list, tuple)):
        return ("len", len(value))
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return ("other", type(value).__name__)


class CostEstimator:
    """Estimates and caches operation costs for one schema (one per process)."""

    def __init__(self, *, max_cost: int, assumed_list_size: int, default_page_size: int) -> None:
        self.max_cost = max_cost
        self.assumed_list_size = assumed_list_size
        self.default_page_size = default_page_size
        # (query, operation) -> the variables its cost read, and (query, operation, their values) -> cost
        self._reads: dict[tuple[str, str | None], tuple[str, ...]] = {}
        self._costs: OrderedDict[tuple, int] = OrderedDict()

    def cost(self, schema: GraphQLSchema, query: str, document: DocumentNode, operation_name: str | None,
             variables: dict[str, Any] | None) -> int:
        variables = variables or {}
        if len(query) > _CACHED_QUERY_LENGTH:
            return self._estimate(schema, document, operation_name, variables)[0]
        operation_key = (query, operation_name)
        reads = self._reads.get(operation_key)
        if reads is not None:
            key = (query, operation_name, tuple(_frozen(variables.get(name)) for name in reads))
            cached = self._costs.get(key)
            if cached is not None:
                self._costs.move_to_end(key)
                return cached
        cost, read = self._estimate(schema, document, operation_name, variables)
        reads = tuple(sorted(set(reads or ()) | read))
        if len(self._reads) >= _CACHE_SIZE:
            self._reads.pop(next(iter(self._reads)))
        self._reads[operation_key] = reads
        self._costs[(query, operation_name, tuple(_frozen(variables.get(name)) for name in reads))] = cost
        if len(self._costs) > _CACHE_SIZE:
            self._costs.popitem(last=False)
        return cost

    def _estimate(self, schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
                  variables: dict[str, Any]) -> tuple[int, set[str]]:
        operation, fragments = None, {}
        for definition in document.definitions:
            if isinstance(definition, FragmentDefinitionNode):
                fragments[definition.name.value] = definition
            elif isinstance(definition, OperationDefinitionNode):
                if operation_name is None or (definition.name and definition.name.value == operation_name):
                    operation = operation or definition
        if operation is None:
            return 0, set()
        root = schema.get_root_type(operation.operation)
        if root is None:
            return 0, set()
        walk = _Walk(schema, fragments, operation, variables, self.assumed_list_size, self.default_page_size)
        try:
            cost = walk.cost([operation.selection_set], root, 1, None)
        except _TooManyVisits as exc:
            cost = max(exc.partial, self.max_cost + 1)
        return cost, walk.read


class QueryCostLimiter(SchemaExtension):
    """Refuses an operation whose estimated cost is above the limit, before execution.

    Pass a factory (`lambda: QueryCostLimiter(estimator)`) with one estimator built once, so
    the cost cache lives as long as the schema. It also records the operation type on the
    context (`context.operation_type`), which the response size cap reads."""

    def __init__(self, estimator: CostEstimator) -> None:
        super().__init__()
        self.estimator = estimator

    def on_execute(self) -> Iterator[None]:
        execution_context = self.execution_context
        context = execution_context.context
        if hasattr(context, "operation_type"):
            context.operation_type = execution_context.operation_type.value
        if self.estimator.max_cost > 0 and execution_context.query is not None and execution_context.graphql_document is not None:
            cost = self.estimator.cost(
                execution_context.schema._schema,
                execution_context.query,
                execution_context.graphql_document,
                execution_context.operation_name,
                execution_context.variables,
            )
            if cost > self.estimator.max_cost:
                execution_context.result = GraphQLExecutionResult(data=None, errors=[QueryTooCostly(cost, self.estimator.max_cost)])
        yield
