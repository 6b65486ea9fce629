//! RPC behaviour, each scenario over RabbitMQ and in process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Net, unique};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use warren_bus::contracts::{ErrorCode, WireError};
use warren_bus::{CallError, CallOptions, RequestContext, Router, ServeOptions};

fn echo_router(service: &str) -> Router {
    Router::new(service).method_json("echo", |ctx: RequestContext, params: Value| async move {
        Ok(json!({ "params": params, "user_id": ctx.user_id, "request_id": ctx.request_id }))
    })
}

fn opts() -> CallOptions {
    CallOptions::default().timeout(Duration::from_secs(10))
}

async fn round_trip(net: Net) {
    let service = unique("echo");
    let server_bus = net.bus().await;
    let client = net.bus().await;
    let server = server_bus
        .serve(echo_router(&service), ServeOptions::default())
        .await
        .unwrap();
    let options = opts().user_id("user-1").request_id("req-1");
    let reply = client
        .call_json(&service, "echo", &json!({"n": 1}), options)
        .await
        .unwrap();
    assert_eq!(
        reply,
        json!({"params": {"n": 1}, "user_id": "user-1", "request_id": "req-1"})
    );
    server.stop().await;
    client.shutdown().await;
    server_bus.shutdown().await;
}

async fn thousand_concurrent_calls(net: Net) {
    let service = unique("many");
    let bus = net.bus().await;
    let server = bus
        .serve(
            echo_router(&service),
            ServeOptions {
                prefetch: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let calls = (0..1000).map(|i| {
        let bus = bus.clone();
        let service = service.clone();
        tokio::spawn(async move {
            let reply = bus
                .call_json(&service, "echo", &json!(i), opts())
                .await
                .unwrap();
            assert_eq!(
                reply["params"],
                json!(i),
                "call {i} got another call's reply"
            );
        })
    });
    for call in futures_util::future::join_all(calls).await {
        call.unwrap();
    }
    server.stop().await;
    bus.shutdown().await;
}

async fn handler_errors_arrive_as_that_error(net: Net) {
    let service = unique("err");
    let bus = net.bus().await;
    let router = Router::new(&service).method_json("fail", |_, _| async {
        Err(WireError::new(ErrorCode::RoomFull, "the room is full"))
    });
    let server = bus.serve(router, ServeOptions::default()).await.unwrap();
    let error = bus
        .call_json(&service, "fail", &json!({}), opts())
        .await
        .unwrap_err();
    match error {
        CallError::Service(e) => {
            assert_eq!(e, WireError::new(ErrorCode::RoomFull, "the room is full"));
        }
        other => panic!("expected the service's error, got {other:?}"),
    }
    server.stop().await;
    bus.shutdown().await;
}

async fn unknown_methods_and_bad_params_are_refused(net: Net) {
    let service = unique("typed");
    let bus = net.bus().await;
    let router = Router::new(&service).method_json("needs_object", |_, params: Value| async move {
        if params.is_object() {
            Ok(json!("ok"))
        } else {
            Err(WireError::new(
                ErrorCode::InvalidParams,
                "an object, please",
            ))
        }
    });
    let server = bus.serve(router, ServeOptions::default()).await.unwrap();
    let error = bus
        .call_json(&service, "no_such_method", &json!({}), opts())
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::UnknownMethod, "{error:?}");
    let error = bus
        .call_json(&service, "needs_object", &json!([1]), opts())
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::InvalidParams, "{error:?}");
    server.stop().await;
    bus.shutdown().await;
}

async fn a_panicking_handler_answers_internal(net: Net) {
    let service = unique("panic");
    let bus = net.bus().await;
    let router = Router::new(&service)
        .method_json("boom", |_, _| async { panic!("handler bug") })
        .method_json("fine", |_, _| async { Ok(json!("fine")) });
    let server = bus.serve(router, ServeOptions::default()).await.unwrap();
    let error = bus
        .call_json(&service, "boom", &json!({}), opts())
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::Internal, "{error:?}");
    let reply = bus.call_json(&service, "fine", &json!({}), opts()).await;
    assert_eq!(reply.unwrap(), json!("fine"), "the server survives a panic");
    server.stop().await;
    bus.shutdown().await;
}

async fn no_server_is_unavailable_at_once(net: Net) {
    let bus = net.bus().await;
    let started = Instant::now();
    let error = bus
        .call_json(&unique("nobody"), "echo", &json!({}), opts())
        .await
        .unwrap_err();
    assert!(matches!(error, CallError::Unavailable(_)), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "unavailable took {:?}, it must not wait for the 10 s deadline",
        started.elapsed()
    );
    bus.shutdown().await;
}

async fn every_instance_stopped_is_unavailable_at_once(net: Net) {
    let service = unique("stopped");
    let bus = net.bus().await;
    let a = bus
        .serve(echo_router(&service), ServeOptions::default())
        .await
        .unwrap();
    let b = bus
        .serve(echo_router(&service), ServeOptions::default())
        .await
        .unwrap();
    bus.call_json(&service, "echo", &json!(1), opts())
        .await
        .unwrap();
    a.stop().await;
    bus.call_json(&service, "echo", &json!(2), opts())
        .await
        .expect("the other instance still serves");
    b.stop().await;
    // The queue goes with its last consumer; the broker deletes it asynchronously after the cancel.
    common::eventually("the queue is gone", Duration::from_secs(5), || async {
        let started = Instant::now();
        match bus.call_json(&service, "echo", &json!(3), opts()).await {
            Err(CallError::Unavailable(_)) => {
                assert!(started.elapsed() < Duration::from_secs(2));
                true
            }
            Err(CallError::Timeout(_)) => {
                panic!("a call to a stopped service waited for its deadline")
            }
            _ => false,
        }
    })
    .await;
    bus.shutdown().await;
}

async fn a_passed_deadline_is_a_timeout_and_the_request_is_never_handled(net: Net) {
    let service = unique("slow");
    let bus = net.bus().await;
    let release = Arc::new(Notify::new());
    let handled = Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let router = {
        let release = Arc::clone(&release);
        let handled = Arc::clone(&handled);
        Router::new(&service).method_json("work", move |_, params: Value| {
            let release = Arc::clone(&release);
            let handled = Arc::clone(&handled);
            async move {
                let n = params.as_i64().unwrap();
                handled.lock().unwrap().push(n);
                if n == 1 {
                    release.notified().await;
                }
                Ok(json!(n))
            }
        })
    };
    // One request at a time: the second waits behind the first.
    let server = bus
        .serve(
            router,
            ServeOptions {
                prefetch: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let first = {
        let bus = bus.clone();
        let service = service.clone();
        tokio::spawn(async move { bus.call_json(&service, "work", &json!(1), opts()).await })
    };
    common::eventually(
        "the first request is being handled",
        Duration::from_secs(5),
        || {
            let handled = Arc::clone(&handled);
            async move { handled.lock().unwrap().contains(&1) }
        },
    )
    .await;
    let short = CallOptions::default().timeout(Duration::from_millis(300));
    let started = Instant::now();
    let error = bus
        .call_json(&service, "work", &json!(2), short)
        .await
        .unwrap_err();
    assert!(matches!(error, CallError::Timeout(_)), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    release.notify_one();
    assert_eq!(first.await.unwrap().unwrap(), json!(1));
    // Requests are taken in order: once the third is answered, the second had its chance.
    assert_eq!(
        bus.call_json(&service, "work", &json!(3), opts())
            .await
            .unwrap(),
        json!(3)
    );
    assert_eq!(
        *handled.lock().unwrap(),
        vec![1, 3],
        "the expired request was handled"
    );
    server.stop().await;
    bus.shutdown().await;
}

async fn two_instances_both_take_work(net: Net) {
    let service = unique("shared");
    let bus_a = net.bus().await;
    let bus_b = net.bus().await;
    let client = net.bus().await;
    let counts = [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))];
    let mut servers = Vec::new();
    for (bus, count) in [(&bus_a, &counts[0]), (&bus_b, &counts[1])] {
        let count = Arc::clone(count);
        let router = Router::new(&service).method_json("work", move |_, _| {
            let count = Arc::clone(&count);
            async move {
                count.fetch_add(1, Ordering::SeqCst);
                // Long enough that one instance cannot drain the queue alone.
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok(json!(null))
            }
        });
        servers.push(
            bus.serve(
                router,
                ServeOptions {
                    prefetch: 4,
                    ..Default::default()
                },
            )
            .await
            .unwrap(),
        );
    }
    let calls = (0..200).map(|_| client.call_json(&service, "work", &json!(null), opts()));
    for result in futures_util::future::join_all(calls).await {
        result.unwrap();
    }
    let (a, b) = (
        counts[0].load(Ordering::SeqCst),
        counts[1].load(Ordering::SeqCst),
    );
    assert_eq!(a + b, 200);
    assert!(a >= 20 && b >= 20, "work was not shared: {a} and {b}");
    for server in servers {
        server.stop().await;
    }
    for bus in [client, bus_a, bus_b] {
        bus.shutdown().await;
    }
}

async fn stopping_a_server_finishes_what_it_holds(net: Net) {
    let service = unique("graceful");
    let bus = net.bus().await;
    let entered = Arc::new(Notify::new());
    let router = {
        let entered = Arc::clone(&entered);
        Router::new(&service).method_json("work", move |_, _| {
            let entered = Arc::clone(&entered);
            async move {
                entered.notify_one();
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok(json!("done"))
            }
        })
    };
    let server = bus.serve(router, ServeOptions::default()).await.unwrap();
    let call = {
        let bus = bus.clone();
        let service = service.clone();
        tokio::spawn(async move { bus.call_json(&service, "work", &json!({}), opts()).await })
    };
    entered.notified().await;
    server.stop().await;
    assert_eq!(call.await.unwrap().unwrap(), json!("done"));
    bus.shutdown().await;
}

async fn context_travels_with_the_request(net: Net) {
    let service = unique("ctx");
    let bus = net.bus().await;
    let router = Router::new(&service).method_json("ctx", |ctx: RequestContext, _| async move {
        Ok(json!({
            "method": ctx.method,
            "remaining_ms": u64::try_from(ctx.remaining().as_millis()).unwrap(),
            "redelivered": ctx.redelivered,
        }))
    });
    let server = bus.serve(router, ServeOptions::default()).await.unwrap();
    let reply = bus
        .call_json(
            &service,
            "ctx",
            &json!({}),
            CallOptions::default().timeout(Duration::from_secs(3)),
        )
        .await
        .unwrap();
    assert_eq!(reply["method"], "ctx");
    assert_eq!(reply["redelivered"], false);
    let remaining = reply["remaining_ms"].as_u64().unwrap();
    assert!(
        (1000..=3000).contains(&remaining),
        "deadline not carried: {remaining} ms left"
    );
    server.stop().await;
    bus.shutdown().await;
}

/// The client address reaches the handler, and a call made while handling goes on with it.
async fn the_client_address_travels_and_is_passed_on(net: Net) {
    let inner = unique("addr-inner");
    let outer = unique("addr-outer");
    let bus = net.bus().await;
    let inner_router = Router::new(&inner)
        .method_json("who", |ctx: RequestContext, _| async move {
            Ok(json!({ "client_addr": ctx.client_addr }))
        });
    let relay = bus.clone();
    let inner_name = inner.clone();
    let outer_router = Router::new(&outer).method_json("relay", move |ctx: RequestContext, _| {
        let relay = relay.clone();
        let inner = inner_name.clone();
        async move {
            let nested = relay
                .call_json(&inner, "who", &json!({}), ctx.call_options())
                .await
                .map_err(|e| e.to_wire())?;
            Ok(json!({ "seen": ctx.client_addr, "nested": nested["client_addr"] }))
        }
    });
    let servers = [
        bus.serve(inner_router, ServeOptions::default())
            .await
            .unwrap(),
        bus.serve(outer_router, ServeOptions::default())
            .await
            .unwrap(),
    ];
    let reply = bus
        .call_json(
            &outer,
            "relay",
            &json!({}),
            opts().client_addr("203.0.113.7"),
        )
        .await
        .unwrap();
    assert_eq!(
        reply,
        json!({"seen": "203.0.113.7", "nested": "203.0.113.7"})
    );
    let without = bus
        .call_json(&inner, "who", &json!({}), opts())
        .await
        .unwrap();
    assert_eq!(without, json!({"client_addr": null}), "service-to-service");
    for server in servers {
        server.stop().await;
    }
    bus.shutdown().await;
}

async fn answered_requests_are_not_delivered_again(net: Net) {
    let service = unique("acked");
    let bus = net.bus().await;
    // Later requests finish first, so acknowledgements come out of delivery order.
    let router = Router::new(&service).method_json("work", |_, p: Value| async move {
        let n = p.as_u64().unwrap();
        tokio::time::sleep(Duration::from_millis(40 - n * 2)).await;
        Ok(p)
    });
    let first = bus
        .serve(
            router,
            ServeOptions {
                prefetch: 20,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let params: Vec<Value> = (0..20).map(|n| json!(n)).collect();
    let calls = params
        .iter()
        .map(|p| bus.call_json(&service, "work", p, opts()));
    for (n, reply) in futures_util::future::join_all(calls)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(reply.unwrap(), json!(n));
    }
    // A second instance comes up, then the first stops: had it left any request unacknowledged,
    // the broker would hand it to the second now.
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let second = {
        let seen = Arc::clone(&seen);
        let router =
            Router::new(&service).method_json("work", move |ctx: RequestContext, p: Value| {
                let seen = Arc::clone(&seen);
                async move {
                    seen.lock().unwrap().push((p.clone(), ctx.redelivered));
                    Ok(p)
                }
            });
        bus.serve(router, ServeOptions::default()).await.unwrap()
    };
    first.stop().await;
    assert_eq!(
        bus.call_json(&service, "work", &json!(99), opts())
            .await
            .unwrap(),
        json!(99)
    );
    assert_eq!(*seen.lock().unwrap(), vec![(json!(99), false)]);
    second.stop().await;
    bus.shutdown().await;
}

async fn a_request_left_unfinished_goes_to_another_instance(net: Net) {
    let service = unique("handover");
    let bus = net.bus().await;
    let (entered_tx, mut entered) = tokio::sync::mpsc::unbounded_channel();
    let stuck = Router::new(&service).method_json("work", move |_, _| {
        let entered_tx = entered_tx.clone();
        async move {
            let _ = entered_tx.send(());
            std::future::pending::<()>().await;
            Ok(json!("never"))
        }
    });
    let quick = ServeOptions {
        shutdown_grace: Duration::from_millis(100),
        ..Default::default()
    };
    let first = bus.serve(stuck, quick).await.unwrap();
    let call = {
        let bus = bus.clone();
        let service = service.clone();
        tokio::spawn(async move { bus.call_json(&service, "work", &json!(1), opts()).await })
    };
    // The request is with the first instance when the second arrives.
    entered.recv().await.unwrap();
    let second = bus
        .serve(
            Router::new(&service).method_json("work", |ctx: RequestContext, _| async move {
                Ok(json!({ "redelivered": ctx.redelivered }))
            }),
            ServeOptions::default(),
        )
        .await
        .unwrap();
    first.stop().await;
    let reply = call.await.unwrap();
    if net.is_amqp() {
        // The broker takes the request back from the stopped instance and redelivers it.
        assert_eq!(reply.unwrap(), json!({"redelivered": true}));
    } else {
        // In process there is no broker to hold it: the caller is told at once.
        assert!(matches!(reply, Err(CallError::Unavailable(_))), "{reply:?}");
    }
    second.stop().await;
    bus.shutdown().await;
}

both_transports!(
    answered_requests_are_not_delivered_again,
    a_request_left_unfinished_goes_to_another_instance,
    round_trip,
    thousand_concurrent_calls,
    handler_errors_arrive_as_that_error,
    unknown_methods_and_bad_params_are_refused,
    a_panicking_handler_answers_internal,
    no_server_is_unavailable_at_once,
    every_instance_stopped_is_unavailable_at_once,
    a_passed_deadline_is_a_timeout_and_the_request_is_never_handled,
    two_instances_both_take_work,
    stopping_a_server_finishes_what_it_holds,
    context_travels_with_the_request,
    the_client_address_travels_and_is_passed_on,
);
