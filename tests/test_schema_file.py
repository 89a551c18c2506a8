"""The committed schema.graphql is the live schema."""

from __future__ import annotations

from app.config import PROJECT_ROOT


def test_schema_file_matches_live_schema():
    from schema import schema

    committed = (PROJECT_ROOT / "schema.graphql").read_text()
    live = schema.as_str() + "\n"
    assert committed == live, "schema.graphql is out of date: run `make schema` (kassa export-schema > schema.graphql)"


def test_every_type_and_field_is_described():
    from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType, GraphQLUnionType

    from schema import schema

    missing = []
    for name, graphql_type in schema._schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Boolean", "ID", "Float", "DateTime", "JSON"}:
            continue
        if not getattr(graphql_type, "description", None):
            missing.append(name)
        if isinstance(graphql_type, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for field_name, field in graphql_type.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if not arg.description:
                        missing.append(f"{name}.{field_name}({arg_name})")
        if isinstance(graphql_type, GraphQLEnumType):
            missing += [f"{name}.{v}" for v, value in graphql_type.values.items() if not value.description]
        if isinstance(graphql_type, GraphQLUnionType) and not graphql_type.description:
            missing.append(name)
    assert missing == []
