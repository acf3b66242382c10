//! Finds a non-finite number (NaN, ±infinity) in any serializable value. JSON cannot carry
//! one, and serializers quietly write `null` instead, which breaks a tool's `outputSchema`;
//! [`super::content::CallToolResult::structured`] turns such a result into a tool error.
//!
//! A serde `Serializer` that writes nothing and fails at the first non-finite float. It walks
//! the value the tool built (server data, not client data), so its recursion is the value's.

use serde::ser::{self, Serialize};
use std::fmt;

/// Checks `value`; `Err` names what was found.
pub(crate) fn check<T: Serialize + ?Sized>(value: &T) -> Result<(), NonFinite> {
    value.serialize(Checker)
}

/// The error: a non-finite number was found (or the value failed to serialize at all).
#[derive(Debug)]
pub(crate) struct NonFinite(pub String);

impl fmt::Display for NonFinite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NonFinite {}

impl ser::Error for NonFinite {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        NonFinite(msg.to_string())
    }
}

struct Checker;

fn float(v: f64) -> Result<(), NonFinite> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(NonFinite(format!("the number {v} (JSON has no NaN or infinity)")))
    }
}

macro_rules! accept {
    ($($method:ident($ty:ty);)*) => {
        $(fn $method(self, _: $ty) -> Result<(), NonFinite> { Ok(()) })*
    };
}

impl ser::Serializer for Checker {
    type Ok = ();
    type Error = NonFinite;
    type SerializeSeq = Checker;
    type SerializeTuple = Checker;
    type SerializeTupleStruct = Checker;
    type SerializeTupleVariant = Checker;
    type SerializeMap = Checker;
    type SerializeStruct = Checker;
    type SerializeStructVariant = Checker;

    accept! {
        serialize_bool(bool); serialize_i8(i8); serialize_i16(i16); serialize_i32(i32);
        serialize_i64(i64); serialize_i128(i128); serialize_u8(u8); serialize_u16(u16);
        serialize_u32(u32); serialize_u64(u64); serialize_u128(u128); serialize_char(char);
        serialize_str(&str); serialize_bytes(&[u8]); serialize_unit_struct(&'static str);
    }

    fn serialize_f32(self, v: f32) -> Result<(), NonFinite> {
        float(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), NonFinite> {
        float(v)
    }
    fn serialize_none(self) -> Result<(), NonFinite> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), NonFinite> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), NonFinite> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), NonFinite> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), NonFinite> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), NonFinite> {
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Checker, NonFinite> {
        Ok(Checker)
    }
    fn serialize_tuple(self, _: usize) -> Result<Checker, NonFinite> {
        Ok(Checker)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Checker, NonFinite> {
        Ok(Checker)
    }
    fn serialize_tuple_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Checker, NonFinite> {
        Ok(Checker)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Checker, NonFinite> {
        Ok(Checker)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Checker, NonFinite> {
        Ok(Checker)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Checker, NonFinite> {
        Ok(Checker)
    }
}

/// Every compound kind checks its elements the same way.
macro_rules! compound {
    ($($trait:ident :: $method:ident $(($key:ty))?;)*) => {
        $(impl ser::$trait for Checker {
            type Ok = ();
            type Error = NonFinite;
            fn $method<T: Serialize + ?Sized>(&mut self, $(_: $key,)? value: &T) -> Result<(), NonFinite> {
                value.serialize(Checker)
            }
            fn end(self) -> Result<(), NonFinite> {
                Ok(())
            }
        })*
    };
}

compound! {
    SerializeSeq::serialize_element;
    SerializeTuple::serialize_element;
    SerializeTupleStruct::serialize_field;
    SerializeTupleVariant::serialize_field;
    SerializeStruct::serialize_field(&'static str);
    SerializeStructVariant::serialize_field(&'static str);
}

impl ser::SerializeMap for Checker {
    type Ok = ();
    type Error = NonFinite;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), NonFinite> {
        key.serialize(Checker)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NonFinite> {
        value.serialize(Checker)
    }
    fn end(self) -> Result<(), NonFinite> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::check;
    use std::collections::BTreeMap;

    #[test]
    fn non_finite_numbers_are_found_anywhere() {
        assert!(check(&1.5f64).is_ok());
        assert!(check(&(1, "x", [2.0f32], Some(3.0))).is_ok());
        assert!(check(&sonic_rs::json!({"a": [1, {"b": 2.5}]})).is_ok());
        assert!(check(&f64::NAN).is_err());
        assert!(check(&vec![1.0, f64::INFINITY]).is_err());
        assert!(check(&BTreeMap::from([("sum", f64::NEG_INFINITY)])).is_err());
        assert!(check(&Some(f32::NAN)).is_err());
    }
}
