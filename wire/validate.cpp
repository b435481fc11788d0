#include "wire/internal/validate.hpp"

namespace hydra::wire::internal {
namespace {

bool has_pointer_elements(capnp::DynamicList::Reader list) {
  switch (list.getSchema().whichElementType()) {
    case capnp::schema::Type::TEXT:
    case capnp::schema::Type::DATA:
    case capnp::schema::Type::LIST:
    case capnp::schema::Type::STRUCT: return true;
    default: return false;  // scalars and enums were bounds-checked with the list
  }
}

void traverse_value(const capnp::DynamicValue::Reader& v) {
  switch (v.getType()) {
    case capnp::DynamicValue::STRUCT: traverse(v.as<capnp::DynamicStruct>()); break;
    case capnp::DynamicValue::LIST: {
      auto list = v.as<capnp::DynamicList>();
      if (has_pointer_elements(list))
        for (auto element : list) traverse_value(element);
      break;
    }
    default: break;  // scalars; text and data were checked when read
  }
}

}  // namespace

void traverse(capnp::DynamicStruct::Reader s) {
  for (auto field : s.getSchema().getNonUnionFields()) traverse_value(s.get(field));
  KJ_IF_MAYBE(field, s.which()) { traverse_value(s.get(*field)); }
}

}  // namespace hydra::wire::internal
