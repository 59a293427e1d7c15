using Middleware.Core;
using Middleware.Recovery.Runtime;

namespace Middleware.Tests.Runtime;

/// <summary>The round trip behind checkpoints and audits, and the JSON diff that names what was lost.</summary>
public sealed class StateRoundTripTests
{
    [Fact]
    public void The_first_difference_is_named_by_its_json_path_with_both_values()
    {
        Assert.Null(JsonDifference.Between("{\"A\":[1,2]}"u8, "{\"A\":[1,2]}"u8));
        Assert.Equal(new JsonDifference("$.A.B[1]", "2", "5"), JsonDifference.Between("{\"A\":{\"B\":[1,2,3]}}"u8, "{\"A\":{\"B\":[1,5,3]}}"u8));
        Assert.Equal(new JsonDifference("$.Gone", "{\"X\":1}", JsonDifference.Absent), JsonDifference.Between("{\"Gone\":{\"X\":1},\"Y\":2}"u8, "{\"Y\":2}"u8));
        Assert.Equal(new JsonDifference("$.New", JsonDifference.Absent, "true"), JsonDifference.Between("{}"u8, "{\"New\":true}"u8));
        Assert.Equal(new JsonDifference("$.L[2]", "3", JsonDifference.Absent), JsonDifference.Between("{\"L\":[1,2,3]}"u8, "{\"L\":[1,2]}"u8));
        Assert.Equal(new JsonDifference("$['a b']", "1", "2"), JsonDifference.Between("{\"a b\":1}"u8, "{\"a b\":2}"u8));
    }

    [Fact]
    public void A_private_setter_shows_as_the_member_that_did_not_come_back()
    {
        var cart = new CartState();
        cart.Add("apple");

        var (bytes, loss) = StateRoundTrip.Write(cart, typeof(CartState), ComponentJson.Create());

        Assert.Equal("{\"Items\":[\"apple\"]}", System.Text.Encoding.UTF8.GetString(bytes));
        Assert.Equal(new StateLoss("$.Items[0]", "\"apple\"", JsonDifference.Absent), loss);
        Assert.Equal("$.Items[0] is written as \"apple\" and reads back as (absent)", loss!.Describe());
    }

    [Fact]
    public void A_state_that_cannot_be_written_or_read_back_is_a_loss_naming_the_error()
    {
        var json = ComponentJson.Create();
        var nan = StateRoundTrip.Write(new DoubleState { Value = double.NaN }, typeof(DoubleState), json);
        Assert.Empty(nan.Bytes);
        Assert.Contains("cannot be written as JSON", nan.Loss!.Error);

        var unreadable = StateRoundTrip.Check("{\"Value\":\"text\"}"u8, typeof(DoubleState), json);
        Assert.Contains("does not read back as DoubleState", unreadable!.Error);
    }

    public sealed class DoubleState
    {
        public double Value { get; set; }
    }
}
