/* test-list.h: the one table of unit tests (libuv's test-list.h idea, as an X-macro).
 *
 * There is no include guard on purpose: runner.c includes this file twice, once with
 * TEST_ENTRY declaring each test and once with it building the table, so the list is
 * written once. CMake reads the same lines to register one ctest per test: keep one
 * TEST_ENTRY(name) per line, at the start of the line.
 */

/* test_buffer.c */
TEST_ENTRY(buf_starts_empty)
TEST_ENTRY(buf_append_grows_and_keeps_bytes)
TEST_ENTRY(buf_append_str_and_bytes)
TEST_ENTRY(buf_append_u64_decimal)
TEST_ENTRY(buf_reset_keeps_allocation)
TEST_ENTRY(buf_reserve_ensures_room)
TEST_ENTRY(buf_release_hands_over_allocation)

/* test_base64.c */
TEST_ENTRY(base64_rfc4648_vectors)
TEST_ENTRY(base64_decode_is_strict)
TEST_ENTRY(base64_decode_appends_and_rolls_back)
TEST_ENTRY(base64_round_trip_across_chunks)

/* test_engineio.c */
TEST_ENTRY(eio_frame_text_packets)
TEST_ENTRY(eio_frame_binary_is_raw_message)
TEST_ENTRY(eio_frame_text_errors)
TEST_ENTRY(eio_payload_spec_text_example)
TEST_ENTRY(eio_payload_spec_binary_example)
TEST_ENTRY(eio_payload_socketio_sample_session)
TEST_ENTRY(eio_payload_binary_packets_in_sequence)
TEST_ENTRY(eio_payload_empty_is_error)
TEST_ENTRY(eio_payload_empty_record_is_error)
TEST_ENTRY(eio_payload_unknown_type_is_error)
TEST_ENTRY(eio_payload_invalid_base64_is_error)
TEST_ENTRY(eio_payload_error_is_sticky)
TEST_ENTRY(eio_payload_append_builds_spec_body)
TEST_ENTRY(eio_payload_append_then_read_round_trip)
TEST_ENTRY(eio_packet_encode_text_forms)
TEST_ENTRY(eio_handshake_spec_example)
TEST_ENTRY(eio_handshake_without_upgrades)
TEST_ENTRY(eio_packet_type_names)

/* test_socketio_spec.c */
TEST_ENTRY(sio_spec_vectors_decode)
TEST_ENTRY(sio_spec_vectors_encode)

/* test_socketio_decode.c */
TEST_ENTRY(sio_decode_unknown_type)
TEST_ENTRY(sio_decode_illegal_attachments_count)
TEST_ENTRY(sio_decode_too_many_attachments)
TEST_ENTRY(sio_decode_invalid_payload)
TEST_ENTRY(sio_decode_reserved_event_names)
TEST_ENTRY(sio_decode_accepted_data_shapes)
TEST_ENTRY(sio_decode_ack_ids)
TEST_ENTRY(sio_decode_namespace_forms)
TEST_ENTRY(sio_decode_text_while_attachments_pending)
TEST_ENTRY(sio_decode_binary_without_pending_packet)
TEST_ENTRY(sio_decode_placeholders_must_name_attachments)
TEST_ENTRY(sio_decode_binary_with_zero_attachments)
TEST_ENTRY(sio_decode_json_details)
TEST_ENTRY(sio_decode_integers_beyond_int64)
TEST_ENTRY(sio_decoder_free_releases_pending)

/* test_socketio_encode.c */
TEST_ENTRY(sio_encode_json_is_compact_and_unescaped)
TEST_ENTRY(sio_encode_main_namespace_forms)
TEST_ENTRY(sio_encode_binary_counts_attachments)
TEST_ENTRY(sio_encode_refuses_invalid_packets)
TEST_ENTRY(sio_encode_refuses_unserialisable_data)
TEST_ENTRY(sio_encode_decode_round_trip)
TEST_ENTRY(sio_encode_reals_read_back_equal)
TEST_ENTRY(sio_event_encode_forms)
TEST_ENTRY(sio_event_encode_refusals)
TEST_ENTRY(sio_placeholder_helpers)
TEST_ENTRY(sio_placeholder_count_recurses)
TEST_ENTRY(sio_packet_type_names)

/* test_server_event.c */
TEST_ENTRY(server_event_reply_runs_once_with_the_answer)
TEST_ENTRY(server_event_without_handler_replies_none)
TEST_ENTRY(server_event_answer_later_or_never)
TEST_ENTRY(server_event_pending_answer_ends_before_the_adapter)
TEST_ENTRY(server_side_emit_alone_completes_at_once_without_local_handlers)
TEST_ENTRY(socket_operations_validate_and_fetch_nothing_without_sockets)
TEST_ENTRY(socket_operations_an_adapter_lacks_fail_with_err)

/* test_redis_adapter_golden.c */
TEST_ENTRY(rda_golden_broadcasts)
TEST_ENTRY(rda_golden_broadcast_attachments)
TEST_ENTRY(rda_golden_numbers_and_strings)
TEST_ENTRY(rda_golden_values_as_node_shows_them)
TEST_ENTRY(rda_golden_depth_limit)
TEST_ENTRY(rda_golden_requests)
TEST_ENTRY(rda_golden_responses)
TEST_ENTRY(rda_golden_fetch_response)
TEST_ENTRY(rda_golden_requests_from_init)
TEST_ENTRY(rda_golden_responses_from_init)
TEST_ENTRY(rda_golden_broadcasts_from_init)

/* test_redis_adapter.c */
TEST_ENTRY(rda_decode_refusals)
TEST_ENTRY(rda_decode_refuses_every_prefix)
TEST_ENTRY(rda_decode_failure_leaves_nothing)
TEST_ENTRY(rda_decode_accepts_what_node_reads)
TEST_ENTRY(rda_decode_other_msgpack_forms)
TEST_ENTRY(rda_encode_numbers_like_notepack)
TEST_ENTRY(rda_encode_js_key_order)
TEST_ENTRY(rda_encode_refusals)
TEST_ENTRY(rda_encode_depth_limit)
TEST_ENTRY(rda_encode_binary_packet_types)
TEST_ENTRY(rda_encode_format_choice)
TEST_ENTRY(rda_init_layouts)
TEST_ENTRY(rda_rooms_add_copies)
TEST_ENTRY(rda_flags)
TEST_ENTRY(rda_type_names)
TEST_ENTRY(rda_channel_names)
TEST_ENTRY(rda_channel_for_broadcast)
TEST_ENTRY(rda_channel_rooms)
