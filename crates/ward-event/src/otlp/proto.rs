//! The few OTLP protobuf messages Ward reads and writes
//! (`opentelemetry/proto/collector/logs/v1`, `logs/v1`, `common/v1`,
//! `resource/v1`), written out by hand with prost's derive so that no
//! protoc or build script is needed. Tags follow the published `.proto`
//! files; fields Ward does not use are left out (protobuf skips them).

/// `ExportLogsServiceRequest`
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportLogsServiceRequest {
    /// `resource_logs = 1`
    #[prost(message, repeated, tag = "1")]
    pub resource_logs: Vec<ResourceLogs>,
}

/// `ExportLogsServiceResponse`
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportLogsServiceResponse {
    /// `partial_success = 1`
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<ExportLogsPartialSuccess>,
}

/// `ExportLogsPartialSuccess`
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportLogsPartialSuccess {
    /// `rejected_log_records = 1`
    #[prost(int64, tag = "1")]
    pub rejected_log_records: i64,
    /// `error_message = 2`
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// `ResourceLogs`
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceLogs {
    /// `resource = 1`
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// `scope_logs = 2`
    #[prost(message, repeated, tag = "2")]
    pub scope_logs: Vec<ScopeLogs>,
}

/// `Resource`
#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    /// `attributes = 1`
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

/// `ScopeLogs`
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeLogs {
    /// `scope = 1`
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    /// `log_records = 2`
    #[prost(message, repeated, tag = "2")]
    pub log_records: Vec<LogRecord>,
}

/// `InstrumentationScope`
#[derive(Clone, PartialEq, prost::Message)]
pub struct InstrumentationScope {
    /// `name = 1`
    #[prost(string, tag = "1")]
    pub name: String,
    /// `version = 2`
    #[prost(string, tag = "2")]
    pub version: String,
}

/// `LogRecord`
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogRecord {
    /// `time_unix_nano = 1`
    #[prost(fixed64, tag = "1")]
    pub time_unix_nano: u64,
    /// `observed_time_unix_nano = 11`
    #[prost(fixed64, tag = "11")]
    pub observed_time_unix_nano: u64,
    /// `severity_number = 2` (an enum on the wire, read as its number)
    #[prost(int32, tag = "2")]
    pub severity_number: i32,
    /// `severity_text = 3`
    #[prost(string, tag = "3")]
    pub severity_text: String,
    /// `body = 5`
    #[prost(message, optional, tag = "5")]
    pub body: Option<AnyValue>,
    /// `attributes = 6`
    #[prost(message, repeated, tag = "6")]
    pub attributes: Vec<KeyValue>,
    /// `flags = 8`
    #[prost(fixed32, tag = "8")]
    pub flags: u32,
    /// `trace_id = 9`
    #[prost(bytes = "vec", tag = "9")]
    pub trace_id: Vec<u8>,
    /// `span_id = 10`
    #[prost(bytes = "vec", tag = "10")]
    pub span_id: Vec<u8>,
    /// `event_name = 12`
    #[prost(string, tag = "12")]
    pub event_name: String,
}

/// `KeyValue`
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    /// `key = 1`
    #[prost(string, tag = "1")]
    pub key: String,
    /// `value = 2`
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// `AnyValue`
#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    /// The `value` oneof.
    #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub value: Option<any_value::Value>,
}

/// The `AnyValue.value` oneof.
pub mod any_value {
    /// One of the value kinds.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// `string_value = 1`
        #[prost(string, tag = "1")]
        StringValue(String),
        /// `bool_value = 2`
        #[prost(bool, tag = "2")]
        BoolValue(bool),
        /// `int_value = 3`
        #[prost(int64, tag = "3")]
        IntValue(i64),
        /// `double_value = 4`
        #[prost(double, tag = "4")]
        DoubleValue(f64),
        /// `array_value = 5`
        #[prost(message, tag = "5")]
        ArrayValue(super::ArrayValue),
        /// `kvlist_value = 6`
        #[prost(message, tag = "6")]
        KvlistValue(super::KeyValueList),
        /// `bytes_value = 7`
        #[prost(bytes = "vec", tag = "7")]
        BytesValue(Vec<u8>),
    }
}

/// `ArrayValue`
#[derive(Clone, PartialEq, prost::Message)]
pub struct ArrayValue {
    /// `values = 1`
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<AnyValue>,
}

/// `KeyValueList`
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValueList {
    /// `values = 1`
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<KeyValue>,
}
