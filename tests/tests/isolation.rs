//! The isolation helper itself: an abort in the child is a failing test, not a crashed runner.

mod aborts {
    #[test]
    #[ignore = "run in a child process by `an_abort_in_the_child_fails_the_parent_test`"]
    fn scenario() {
        if mixsmith_tests::isolate::in_child() {
            // What `assert_process_allocs` does on an allocation in process().
            std::process::abort();
        }
    }
}

#[test]
#[should_panic(expected = "SIGABRT")]
fn an_abort_in_the_child_fails_the_parent_test() {
    mixsmith_tests::isolate::run_isolated("aborts::scenario");
}

#[test]
#[should_panic(expected = "did not run the scenario")]
fn a_misspelt_scenario_fails_instead_of_passing_vacuously() {
    mixsmith_tests::isolate::run_isolated("no_such::scenario");
}
