"""Tree-sitter query patterns that find named definitions, one table per grammar: data, read by
``copilot.languages`` into each language's record and compiled by ``extract``.

Each entry is a pattern and the kind of definition it finds. ``@def`` captures a definition,
``@name`` its name (or ``@declarator``: a C declarator chain that ends in the name), ``@body``
where its header ends. Each pattern starts with the node type it is rooted at: "(type ...".
When several patterns match one node, the first one wins.
"""

from __future__ import annotations

Patterns = tuple[tuple[str, str], ...]  # (query pattern, kind of definition)

PYTHON: Patterns = (
    ("(function_definition name: (_) @name body: (_) @body) @def", "function"),
    ("(class_definition name: (_) @name body: (_) @body) @def", "class"),
)

_JS_FUNCTION_VALUE = "[(arrow_function body: (_) @body) (function_expression body: (_) @body) " + (
    "(generator_function body: (_) @body)]"
)

JAVASCRIPT: Patterns = (
    ("(function_declaration name: (_) @name body: (_) @body) @def", "function"),
    ("(generator_function_declaration name: (_) @name body: (_) @body) @def", "function"),
    ("(class_declaration name: (_) @name body: (_) @body) @def", "class"),
    ("(method_definition name: (_) @name body: (_) @body) @def", "method"),
    (f"(variable_declarator name: (identifier) @name value: {_JS_FUNCTION_VALUE}) @def", "function"),
    (f"(pair key: (_) @name value: {_JS_FUNCTION_VALUE}) @def", "method"),
    (f"(assignment_expression left: (_) @name right: {_JS_FUNCTION_VALUE}) @def", "function"),
)

TYPESCRIPT: Patterns = (
    *JAVASCRIPT,
    ("(abstract_class_declaration name: (_) @name body: (_) @body) @def", "class"),
    ("(interface_declaration name: (_) @name body: (_) @body) @def", "interface"),
    ("(enum_declaration name: (_) @name body: (_) @body) @def", "enum"),
    ("(internal_module name: (_) @name body: (_) @body) @def", "namespace"),
    ("(module name: (_) @name body: (_) @body) @def", "module"),
    ("(type_alias_declaration name: (_) @name) @def", "type"),
    ("(function_signature name: (_) @name) @def", "function"),
    ("(method_signature name: (_) @name) @def", "method"),
    ("(abstract_method_signature name: (_) @name) @def", "method"),
    (f"(public_field_definition name: (_) @name value: {_JS_FUNCTION_VALUE}) @def", "method"),
)

GO: Patterns = (
    ("(function_declaration name: (_) @name body: (_)? @body) @def", "function"),
    ("(method_declaration name: (_) @name body: (_)? @body) @def", "method"),
    # The first pattern that matches a node wins: these two before the plain `type`.
    ("(type_spec name: (_) @name type: (struct_type (field_declaration_list) @body)) @def", "struct"),
    ('(type_spec name: (_) @name type: (interface_type "{" @body)) @def', "interface"),
    ("(type_spec name: (_) @name) @def", "type"),
    ("(type_alias name: (_) @name) @def", "type"),
)

RUST: Patterns = (
    ("(function_item name: (_) @name body: (_) @body) @def", "function"),
    ("(function_signature_item name: (_) @name) @def", "function"),
    ("(struct_item name: (_) @name body: (_)? @body) @def", "struct"),
    ("(enum_item name: (_) @name body: (_) @body) @def", "enum"),
    ("(union_item name: (_) @name body: (_) @body) @def", "union"),
    ("(trait_item name: (_) @name body: (_) @body) @def", "trait"),
    ("(impl_item type: (_) @name body: (_)? @body) @def", "impl"),
    ("(mod_item name: (_) @name body: (_)? @body) @def", "module"),
    ("(type_item name: (_) @name) @def", "type"),
    ("(macro_definition name: (_) @name) @def", "macro"),
)

JAVA: Patterns = (
    ("(class_declaration name: (_) @name body: (_) @body) @def", "class"),
    ("(interface_declaration name: (_) @name body: (_) @body) @def", "interface"),
    ("(enum_declaration name: (_) @name body: (_) @body) @def", "enum"),
    ("(record_declaration name: (_) @name body: (_) @body) @def", "record"),
    ("(annotation_type_declaration name: (_) @name body: (_) @body) @def", "interface"),
    ("(method_declaration name: (_) @name body: (_)? @body) @def", "method"),
    ("(constructor_declaration name: (_) @name body: (_) @body) @def", "constructor"),
)

# Prototypes: a declaration whose declarator is a function's (not a function pointer's, whose name is
# parenthesized).
_C_PROTOTYPE = (
    "(declaration declarator: [(function_declarator declarator: {names}) "
    "(pointer_declarator declarator: (function_declarator declarator: {names}))] @declarator) @def"
)

C: Patterns = (
    ("(function_definition declarator: (_) @declarator body: (_) @body) @def", "function"),
    (_C_PROTOTYPE.format(names="(identifier)"), "function"),
    ("(struct_specifier name: (_) @name body: (_) @body) @def", "struct"),
    ("(union_specifier name: (_) @name body: (_) @body) @def", "union"),
    ("(enum_specifier name: (_) @name body: (_) @body) @def", "enum"),
    ("(type_definition declarator: (_) @declarator) @def", "type"),
)

_CPP_NAMES = "[(identifier) (field_identifier) (qualified_identifier) (destructor_name) (operator_name)]"

CPP: Patterns = (
    ("(function_definition declarator: (_) @declarator body: (_) @body) @def", "function"),
    (_C_PROTOTYPE.format(names=_CPP_NAMES), "function"),
    ("(field_declaration declarator: (function_declarator) @declarator) @def", "function"),
    ("(class_specifier name: (_) @name body: (_) @body) @def", "class"),
    ("(struct_specifier name: (_) @name body: (_) @body) @def", "struct"),
    ("(union_specifier name: (_) @name body: (_) @body) @def", "union"),
    ("(enum_specifier name: (_) @name body: (_) @body) @def", "enum"),
    ("(namespace_definition name: (_) @name body: (_) @body) @def", "namespace"),
    ("(type_definition declarator: (_) @declarator) @def", "type"),
    ("(alias_declaration name: (_) @name) @def", "type"),
)
